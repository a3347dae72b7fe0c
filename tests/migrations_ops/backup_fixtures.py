"""A throwaway "production" database for the backup and restore_check tests.

Built on the system PostgreSQL through migrations_ops.pg.scratch (so the reaper would find
it): schemas app and public with a few thousand rows, an RLS policy, a database-level
and a role-in-database setting, a schema that is not backed up, and Supabase's
migration history table. Plus the project's supabase/ folder and a role fixture.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from migrations_ops.pg import pgtools, scratch
from migrations_ops.runners.base import RunContext

# Roles are server-wide: a name of this test run's own, so that another checkout's run on
# the same server never drops it under this one (tests/services.py sets the tag).
ROLE = f"rp_backup_app_user_{os.environ['RP_TEST_RUN_TAG']}"

ROLE_FIXTURE = """
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$ROLE') THEN
    CREATE ROLE $ROLE NOLOGIN;
  END IF;
END
$$;
""".replace("$ROLE", ROLE)

SCHEMA = """
CREATE SCHEMA app;
CREATE TABLE app.accounts (
  id bigint PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE app.orders (
  id bigserial PRIMARY KEY, account_id bigint NOT NULL REFERENCES app.accounts (id),
  amount numeric(12, 2) NOT NULL, note text);
CREATE TABLE app.empty_audit (id bigserial PRIMARY KEY, at timestamptz);
CREATE TABLE public.profiles (id bigint PRIMARY KEY, owner text NOT NULL, bio text);
ALTER TABLE public.profiles ENABLE ROW LEVEL SECURITY;
CREATE POLICY profiles_owner ON public.profiles FOR SELECT TO $ROLE
  USING (owner = current_user);
GRANT USAGE ON SCHEMA app TO $ROLE;
GRANT SELECT ON public.profiles TO $ROLE;
INSERT INTO app.accounts (id, name) SELECT g, 'account ' || g FROM generate_series(1, 500) g;
INSERT INTO app.orders (account_id, amount, note)
  SELECT 1 + g % 500, g * 1.5, repeat('note ', 30) || g FROM generate_series(1, 4000) g;
INSERT INTO public.profiles SELECT g, 'user' || g, repeat('bio ', 20)
  FROM generate_series(1, 1000) g;
CREATE SCHEMA other;
CREATE TABLE other.not_backed_up (id int);
INSERT INTO other.not_backed_up VALUES (1);
CREATE SCHEMA supabase_migrations;
CREATE TABLE supabase_migrations.schema_migrations (
  version text PRIMARY KEY, statements text[], name text);
INSERT INTO supabase_migrations.schema_migrations (version, name)
  VALUES ('20250101000000', 'init'), ('20250102000000', 'orders');
""".replace("$ROLE", ROLE)

APPLIED = ["20250101000000", "20250102000000"]
PENDING = ["20250103000000"]
EXPECTED_ROWS = {
    "app.accounts": 500,
    "app.orders": 4000,
    "app.empty_audit": 0,
    "public.profiles": 1000,
}


@dataclass
class Production:
    url: str
    name: str
    role_fixture: Path
    supabase_dir: Path

    def count(self, table: str) -> int:
        schema, name = table.split(".")
        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM {}.{}").format(
                    sql.Identifier(schema), sql.Identifier(name)
                )
            ).fetchone()
        assert row is not None
        return int(row[0])

    def execute(self, query: str) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(query.encode())


@contextlib.contextmanager
def production_database(folder: Path, server: str | None = None) -> Iterator[Production]:
    folder.mkdir(parents=True, exist_ok=True)
    fixture = folder / "roles.sql"
    fixture.write_text(ROLE_FIXTURE)
    supabase_dir = folder / "supabase"
    (supabase_dir / "migrations").mkdir(parents=True)
    names = [f"{APPLIED[0]}_init", f"{APPLIED[1]}_orders", f"{PENDING[0]}_invoices"]
    for name in names:
        (supabase_dir / "migrations" / f"{name}.sql").write_text("select 1;\n")
    (supabase_dir / "migrations" / "README.md").write_text("not a migration\n")

    server = server or pgtools.scratch_server_url()
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(ROLE_FIXTURE.encode())
    with scratch.scratch_database(purpose="test_production", server_url=server) as url:
        name = str(conninfo_to_dict(url)["dbname"])
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SCHEMA.encode())
            db = sql.Identifier(name)
            conn.execute(sql.SQL("ALTER DATABASE {} SET search_path = app, public").format(db))
            conn.execute(sql.SQL("ALTER DATABASE {} SET app.settings.tenant = 'demo'").format(db))
            conn.execute(
                sql.SQL("ALTER ROLE {} IN DATABASE {} SET statement_timeout = '5s'").format(
                    sql.Identifier(ROLE), db
                )
            )
        yield Production(url=url, name=name, role_fixture=fixture, supabase_dir=supabase_dir)
    # The role is server-wide; leave it if another test database still uses it.
    with (
        psycopg.connect(server, autocommit=True) as conn,
        contextlib.suppress(psycopg.errors.DependentObjectsStillExist),
    ):
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(ROLE)))


@dataclass
class Recorder:
    """What a runner told the job engine: log lines and scratch databases."""

    lines: list[tuple[str, str]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def log(self, stream: str, text: str) -> None:
        self.lines.append((stream, text))

    def text(self) -> str:
        return "\n".join(t for _, t in self.lines)


def make_ctx(
    *, production: Production | None = None, recorder: Recorder | None = None, **kwargs
) -> RunContext:
    rec = recorder or Recorder()
    defaults: dict = {
        "target_name": "production",
        "log": rec.log,
        "scratch_created": rec.created.append,
        "scratch_dropped": rec.dropped.append,
    }
    if production:
        defaults["database_url"] = production.url
        defaults["supabase_dir"] = production.supabase_dir
        defaults["fixtures"] = [production.role_fixture]
    defaults.update(kwargs)
    return RunContext(**defaults)


def child_processes(name: str) -> list[int]:
    """Pids of this process's children called ``name`` (e.g. pg_dump)."""
    found = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        if comm == name and int(fields[1]) == me and fields[0] != "Z":
            found.append(int(entry.name))
    return found
