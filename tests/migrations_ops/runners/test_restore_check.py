"""restore_check: file checked first, restored into a scratch database, compared, dropped."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import psycopg
import pytest

from migrations_ops.pg import scratch
from migrations_ops.pg.backup_manifest import ManifestFile, TableCount, manifest_path
from migrations_ops.runners import backup, restore_base, restore_check
from migrations_ops.runners.base import RunnerError
from release_portal import embedded
from tests.migrations_ops.backup_fixtures import (
    EXPECTED_ROWS,
    ROLE,
    Recorder,
    make_ctx,
    production_database,
)

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    with production_database(tmp_path_factory.mktemp("production")) as prod:
        yield prod


def _backup(production, folder: Path, **options) -> Path:
    ctx = make_ctx(production=production, options={"out_dir": str(folder), **options})
    result = backup.run(ctx)
    assert result.ok, result.summary
    return Path(result.data["manifest_path"])


_SANDBOX: Any = None


@pytest.fixture(autouse=True)
def _sandbox(sandbox):
    """restore_check restores into the sandbox's own cluster (PostgreSQL of the backup's
    major version when installed: 15 from Debian, 18 from the wheel)."""
    global _SANDBOX
    _SANDBOX = sandbox
    yield
    _SANDBOX = None


def _check(production, manifest: Path, recorder: Recorder | None = None, **kwargs):
    ctx = make_ctx(
        sandbox=_SANDBOX,
        fixtures=[production.role_fixture],
        recorder=recorder,
        options={"manifest": str(manifest)},
        **kwargs,
    )
    return restore_check.run(ctx)


def _assert_dropped(recorder: Recorder, server: str | None = None) -> None:
    assert recorder.created, "restore_check created no scratch database"
    assert recorder.dropped == recorder.created
    assert not set(recorder.created) & set(scratch.list_scratch_databases(server))


@pytest.fixture(scope="module")
def pg18_server():
    """The embedded PostgreSQL 18 as scratch server: a restore without any rewriting."""
    folder = Path(tempfile.mkdtemp(prefix="rp18_"))  # short: the socket lives inside
    folder.chmod(0o755)  # the wheel runs the server as its own user when we are root
    pgdata = folder / "pg"
    try:
        yield embedded.server_url(pgdata)
    finally:
        embedded.stop(pgdata)
        shutil.rmtree(folder, ignore_errors=True)


def test_it_restores_a_plain_backup_and_finds_the_same_counts(production, tmp_path):
    mpath = _backup(production, tmp_path)
    recorder = Recorder()
    seen_settings: list = []

    def cancelled():
        # While the scratch database exists, look at what was re-applied to it.
        if recorder.created and not recorder.dropped:
            with psycopg.connect(_SANDBOX.server_url(), autocommit=True) as conn:
                seen_settings[:] = conn.execute(
                    "SELECT r.rolname, s.setconfig FROM pg_db_role_setting s "
                    "JOIN pg_database d ON d.oid = s.setdatabase "
                    "LEFT JOIN pg_roles r ON r.oid = s.setrole "
                    "WHERE d.datname = %s ORDER BY 1 NULLS FIRST",
                    [recorder.created[0]],
                ).fetchall()
        return False

    result = _check(production, mpath, recorder, cancelled=cancelled)

    assert result.ok, result.summary
    assert "4 tables and 5,500 rows match the manifest" in result.summary
    manifest = ManifestFile.load(mpath)
    v = manifest.verification
    assert v is not None and v.ok and v.differences == []
    assert v.tables_checked == len(EXPECTED_ROWS) and v.rows_checked == 5500
    assert v.restore_tool is not None and Path(v.restore_tool.path).name == "psql"
    assert Path(v.restore_tool.path).parent == Path(manifest.pg_dump.path).parent
    assert seen_settings == [
        # A custom setting's value stays outside the sandbox: the release's fixtures run here.
        (None, ["search_path=app, public", "app.settings.tenant="]),
        (ROLE, ["statement_timeout=5s"]),
    ]
    _assert_dropped(recorder)


def test_it_round_trips_a_custom_format_backup(production, tmp_path):
    mpath = _backup(production, tmp_path, format="custom")
    recorder = Recorder()
    result = _check(production, mpath, recorder)

    assert result.ok, result.summary
    v = ManifestFile.load(mpath).verification
    assert v is not None and v.ok and v.rows_checked == 5500
    assert v.restore_tool is not None and Path(v.restore_tool.path).name == "pg_restore"
    _assert_dropped(recorder)


@pytest.mark.parametrize("fmt", ["plain", "custom"])
def test_it_restores_on_a_server_of_17_or_newer_as_is(tmp_path, pg18_server, fmt):
    # The whole round trip on PostgreSQL 18: psql -f / pg_restore -d, no script rewriting.
    with production_database(tmp_path / "prod", server=pg18_server) as prod:
        mpath = _backup(prod, tmp_path, format=fmt)
        recorder = Recorder()
        result = _check(prod, mpath, recorder)

    assert result.ok, result.summary
    manifest = ManifestFile.load(mpath)
    assert manifest.server_major == 18
    assert manifest.verification.rows_checked == 5500
    _assert_dropped(recorder, pg18_server)
    assert result.data["sandbox"]["major"] == 18 if "sandbox" in result.data else True


def test_it_catches_a_flipped_byte_before_restoring(production, tmp_path):
    mpath = _backup(production, tmp_path)
    dump = tmp_path / ManifestFile.load(mpath).file
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0x01
    dump.write_bytes(bytes(data))
    recorder = Recorder()

    result = _check(production, mpath, recorder)

    assert not result.ok
    assert f"the dump {dump.name} has sha256 " in result.summary
    assert "altered or damaged" in result.summary
    assert recorder.created == []  # stopped before any restore
    v = ManifestFile.load(mpath).verification
    assert v is not None and not v.ok and v.differences[0]["problem"] == "file"


def test_it_catches_a_truncated_file(production, tmp_path):
    mpath = _backup(production, tmp_path, format="custom")
    manifest = ManifestFile.load(mpath)
    dump = tmp_path / manifest.file
    dump.write_bytes(dump.read_bytes()[:-100])
    recorder = Recorder()

    result = _check(production, mpath, recorder)

    assert not result.ok
    assert result.summary.startswith(
        f"the dump {dump.name} is {manifest.size - 100:,} bytes but the manifest says "
        f"{manifest.size:,}: the file is truncated"
    )
    assert recorder.created == []


def test_it_reports_the_tables_that_differ(production, tmp_path):
    mpath = _backup(production, tmp_path)
    manifest = ManifestFile.load(mpath)
    manifest.tables = [
        TableCount(t.schema, t.table, t.rows + 1, t.rls_enabled, t.policies)
        if t.qualified == "app.orders"
        else t
        for t in manifest.tables
        if t.qualified != "app.empty_audit"
    ] + [TableCount("app", "invoices", 3)]
    manifest.write(mpath)
    recorder = Recorder()

    result = _check(production, mpath, recorder)

    assert not result.ok
    v = ManifestFile.load(mpath).verification
    assert v is not None
    problems = {(d["problem"], d["table"]) for d in v.differences}
    assert problems == {
        ("rows", "app.orders"),
        ("missing table", "app.invoices"),
        ("extra table", "app.empty_audit"),
    }
    assert "app.orders has 4,000 rows, the manifest says 4,001" in result.summary
    _assert_dropped(recorder)


def test_it_stops_at_the_first_restore_error_and_records_it(production, tmp_path):
    mpath = _backup(production, tmp_path)
    manifest = ManifestFile.load(mpath)
    dump = tmp_path / manifest.file
    text = dump.read_bytes()
    cut = text.index(b"-- PostgreSQL database dump complete")
    broken = text[:cut] + b"SELECT no_such_function();\n\n" + text[cut:]
    dump.write_bytes(broken)
    manifest.sha256, manifest.size = hashlib.sha256(broken).hexdigest(), len(broken)
    manifest.write(mpath)
    recorder = Recorder()

    result = _check(production, mpath, recorder)

    assert not result.ok
    assert "failed (exit 3)" in result.summary and "no_such_function" in result.summary
    assert "add that schema to the project's backed-up schemas" in result.summary
    v = ManifestFile.load(mpath).verification
    assert v is not None and v.differences[0]["problem"] == "restore"
    _assert_dropped(recorder)


def test_it_never_runs_the_fixtures_it_is_given_and_says_so(production, tmp_path):
    """The fixtures are bundle content: beside a production backup's rows they could read
    them into the log. A fixture that would fail (or do anything) is not run; the result
    says so, and the portal's own Supabase baseline stands in for it."""
    mpath = _backup(production, tmp_path)
    bad = tmp_path / "bad_roles.sql"
    bad.write_text("SELECT 1;\nCREATE ROLE;\n")
    recorder = Recorder()

    result = restore_check.run(
        make_ctx(
            fixtures=[bad], recorder=recorder, options={"manifest": str(mpath)},
            sandbox=_SANDBOX, repo_dir=tmp_path,
        )
    )  # fmt: skip

    assert result.ok, result.summary
    setup = result.data["setup"]
    assert setup["not_run"] == [
        "the release's fixtures (bad_roles.sql): bundle content never runs in a database "
        "that holds a production backup's rows; the portal made the roles and Supabase's "
        "baseline instead"
    ]
    assert any(line.startswith("the portal's Supabase baseline: ") for line in setup["ran"]), setup
    assert {"anon", "authenticated", "service_role"} <= set(setup["roles_made"])
    assert "it needs role(s) anon" not in result.summary  # the dump does not name them
    _assert_dropped(recorder)


def test_the_baseline_lets_a_backup_that_names_supabase_auth_restore(tmp_path):
    """A backup of public whose table references auth.users, defaults to auth.uid() and
    extensions.uuid_generate_v4(), and grants to authenticated, restores with nothing of
    the bundle: the portal's baseline gives it Supabase's auth and extensions schemas."""
    with production_database(tmp_path / "prod") as prod:
        prod.execute(
            "CREATE SCHEMA auth; CREATE TABLE auth.users (id uuid PRIMARY KEY);"
            "CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS "
            "$$ SELECT NULL::uuid $$;"
            "CREATE SCHEMA extensions;"
            'CREATE EXTENSION "uuid-ossp" WITH SCHEMA extensions;'
            "CREATE TABLE public.notes (id bigint PRIMARY KEY,"
            " author uuid REFERENCES auth.users (id) DEFAULT auth.uid(), body text,"
            " token uuid DEFAULT extensions.uuid_generate_v4());"
            "INSERT INTO public.notes VALUES (1, NULL, 'hello');"
            "DO $$ BEGIN CREATE ROLE authenticated NOLOGIN;"
            " EXCEPTION WHEN duplicate_object THEN NULL; END $$;"
            "GRANT SELECT ON public.notes TO authenticated;"
            "CREATE POLICY mine ON public.notes FOR SELECT TO authenticated"
            " USING (author = auth.uid());"
        )
        mpath = _backup(prod, tmp_path)
        result = restore_check.run(make_ctx(options={"manifest": str(mpath)}, sandbox=_SANDBOX))

    assert result.ok, result.summary
    assert "5 tables and 5,501 rows match the manifest" in result.summary


def test_it_makes_the_roles_the_dump_names_that_no_fixture_made(production, tmp_path):
    """No dump carries roles: one that owns or is granted something in the backup, and no
    fixture makes, is made NOLOGIN in the scratch server and named, instead of the
    restore stopping at its first GRANT (the demo's tables belong to its own role)."""
    mpath = _backup(production, tmp_path)
    manifest = ManifestFile.load(mpath)
    with psycopg.connect(production.url) as conn:
        (owner,) = conn.execute("SELECT current_user").fetchone() or ("",)
    assert ROLE in manifest.roles and owner in manifest.roles  # granted; owns the tables
    assert manifest.roles == sorted(manifest.roles)
    with psycopg.connect(_SANDBOX.server_url(), autocommit=True) as conn:
        assert not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [ROLE]).fetchone()
    recorder = Recorder()

    result = restore_check.run(
        make_ctx(recorder=recorder, options={"manifest": str(mpath)}, sandbox=_SANDBOX)
    )

    assert result.ok, result.summary
    assert f"it needs role(s) {ROLE}, made for it here" in result.summary
    assert f"{ROLE}, service_role (NOLOGIN)" in recorder.text()
    with psycopg.connect(_SANDBOX.server_url(), autocommit=True) as conn:
        made = conn.execute(
            "SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", [ROLE]
        ).fetchone()
    assert made == (False,)
    _assert_dropped(recorder)


def test_a_scratch_server_that_may_not_make_roles_says_which_to_create():
    """With PORTAL_SANDBOX=off the scratch server is the operator's, whose role has no
    CREATEROLE: the check says which roles to create there in advance, instead of failing
    on a permission error of its own."""
    from types import SimpleNamespace

    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    from migrations_ops.pg import pgtools

    name = f"rp_nocreaterole_{os.environ['RP_TEST_RUN_TAG']}"
    missing = f"rp_missing_{os.environ['RP_TEST_RUN_TAG']}"
    with psycopg.connect(pgtools.portal_server_url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOCREATEROLE").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(name), sql.Identifier(name)))  # fmt: skip
    try:
        url = make_conninfo(pgtools.portal_server_url("postgres"), user=name, dbname=name)
        recorder = Recorder()
        manifest = SimpleNamespace(roles=[missing, "pg_database_owner"], settings=[])

        made = restore_base.make_missing_roles(make_ctx(recorder=recorder), url, manifest)

        assert made == []
        # Supabase's API roles are named too, unless this shared server has them already.
        said = recorder.text().split(" in the scratch server")[0]
        assert said.startswith("cannot make role(s) ")
        assert missing in said.removeprefix("cannot make role(s) ").split(", ")
        assert "create them there in advance, NOLOGIN" in recorder.text()
    finally:
        with psycopg.connect(pgtools.portal_server_url("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))  # fmt: skip
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def test_a_manifest_from_before_roles_were_recorded_still_reads(production, tmp_path):
    mpath = _backup(production, tmp_path)
    data = json.loads(mpath.read_text())
    del data["roles"]
    mpath.write_text(json.dumps(data))

    assert ManifestFile.load(mpath).roles == []
    # The role is still made: its role-in-database setting names it.
    result = _check(production, mpath)
    assert result.ok, result.summary


def test_it_matches_a_backup_taken_during_concurrent_inserts(tmp_path):
    with production_database(tmp_path / "prod") as prod:
        writer = psycopg.connect(prod.url, autocommit=True)

        def cancelled():
            writer.execute("INSERT INTO app.orders (account_id, amount) VALUES (2, 2)")
            writer.execute("INSERT INTO public.profiles VALUES (DEFAULT, 'x', 'y')")
            return False

        with writer:
            writer.execute("CREATE SEQUENCE public.pid START 100000")
            writer.execute("ALTER TABLE public.profiles ALTER id SET DEFAULT nextval('public.pid')")
            result = backup.run(
                make_ctx(production=prod, options={"out_dir": str(tmp_path)}, cancelled=cancelled)
            )
        assert prod.count("app.orders") > EXPECTED_ROWS["app.orders"]
        recorder = Recorder()
        checked = _check(prod, Path(result.data["manifest_path"]), recorder)

    assert checked.ok, checked.summary
    assert "4 tables and 5,500 rows match" in checked.summary
    _assert_dropped(recorder)


def test_it_restores_a_database_whose_sessions_default_to_read_only(tmp_path):
    with production_database(tmp_path / "prod") as prod:
        prod.execute(f"ALTER DATABASE {prod.name} SET default_transaction_read_only = on")
        mpath = _backup(prod, tmp_path)
        recorder = Recorder()
        result = _check(prod, mpath, recorder)

    assert result.ok, result.summary
    settings = {s.name: s.value for s in ManifestFile.load(mpath).settings}
    assert settings["default_transaction_read_only"] == "on"
    _assert_dropped(recorder)


def test_it_refuses_a_manifest_it_cannot_read(production, tmp_path):
    bad = tmp_path / "x.sql.manifest.json"
    bad.write_text('{"format_version": 99}')
    with pytest.raises(RunnerError, match=r"manifest format 99 is newer"):
        restore_check.run(make_ctx(options={"manifest": str(bad)}, sandbox=_SANDBOX))

    mpath = _backup(production, tmp_path)
    manifest = ManifestFile.load(mpath)
    manifest.file = "../" + manifest.file
    manifest.write(mpath)
    with pytest.raises(RunnerError, match=r"must be a plain name in the manifest's folder"):
        restore_check.run(make_ctx(options={"manifest": str(mpath)}, sandbox=_SANDBOX))


def _manage(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "runner", *args, "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=os.environ.copy(),
    )  # fmt: skip


def test_it_runs_from_the_command_line(production, tmp_path):
    out = tmp_path / "backups"
    made = _manage(
        "backup", "--database-url", production.url, "--target-name", "production",
        "--supabase-dir", str(production.supabase_dir), "--out", str(out),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    data = json.loads(made.stdout)
    assert data["ok"] and data["data"]["pending_versions"] == ["20250103000000"]
    mpath = manifest_path(Path(data["data"]["path"]))

    fixture = str(production.role_fixture)
    checked = _manage("restore_check", "--manifest", str(mpath), "--fixture", fixture)
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["ok"] is True
    assert ManifestFile.load(mpath).verification.ok

    dump = Path(data["data"]["path"])
    dump.write_bytes(dump.read_bytes()[:-1])
    failed = _manage("restore_check", "--manifest", str(mpath))
    assert failed.returncode == 1
    assert "truncated" in json.loads(failed.stdout)["summary"]
