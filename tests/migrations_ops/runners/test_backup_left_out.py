"""A backup of selected schemas says what it leaves out that they are tied to (issue 13):
a trigger on auth.users calling a function it backs up, a foreign key to auth.users."""

from __future__ import annotations

import psycopg

from migrations_ops.pg.backup_manifest import ManifestFile, manifest_path
from migrations_ops.runners import backup
from tests.migrations_ops.backup_fixtures import make_ctx

TIED = """
create schema auth;
create table auth.users (id uuid primary key);
create schema app;
create table app.profiles (id uuid primary key references auth.users (id));
create function app.handle_new_user() returns trigger language plpgsql as $$
begin insert into app.profiles (id) values (new.id); return new; end $$;
create trigger on_auth_user_created after insert on auth.users
  for each row execute function app.handle_new_user();
"""


def test_the_manifest_and_result_name_what_the_backup_leaves_out(database, tmp_path):
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(TIED)
    out = tmp_path / "backups"

    result = backup.run(
        make_ctx(database_url=database, schemas=["app"], options={"out_dir": str(out)})
    )

    assert result.ok, result.summary
    expected = [
        "trigger on_auth_user_created on auth.users (not backed up) calls "
        "app.handle_new_user: restoring this backup does not recreate it",
        "foreign key profiles_id_fkey of app.profiles references auth.users (not backed "
        "up): a restore needs it present",
    ]
    assert result.data["left_out"] == expected
    assert "leaves out 2 thing(s)" in result.summary
    dump = next(p for p in out.iterdir() if not p.name.endswith(".manifest.json"))
    assert ManifestFile.load(manifest_path(dump)).left_out == expected


def test_a_backup_of_every_schema_involved_leaves_nothing_out(database, tmp_path):
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(TIED)

    result = backup.run(
        make_ctx(database_url=database, schemas=["app", "auth"], options={"out_dir": str(tmp_path)})
    )

    assert result.ok, result.summary
    assert result.data["left_out"] == []
    assert "leaves out" not in result.summary
