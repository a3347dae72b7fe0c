"""PORTAL_SANDBOX=off: bundle content runs only when the operator accepted it, against a
dedicated, unprivileged scratch server; check commands never. And what ``manage.py check``
and /healthz say about the mode in force."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.core import checks
from django.urls import reverse
from psycopg import sql

from migrations_ops.pg import pgtools
from migrations_ops.pg.job_sandbox import open_sandbox, portal_server
from migrations_ops.pg.sandbox import SandboxError
from migrations_ops.pg.unsandboxed import scratch_server_problems
from migrations_ops.runners import commands
from migrations_ops.runners.base import RunContext, RunnerError
from release_portal import embedded


@pytest.fixture(scope="module")
def other_server() -> Iterator[str]:
    """A PostgreSQL server that is not the portal's (the embedded wheel's, throwaway)."""
    folder = Path(tempfile.mkdtemp(prefix="rpoff_"))  # short: the socket lives inside
    folder.chmod(0o755)
    pgdata = folder / "pg"
    try:
        yield embedded.server_url(pgdata)
    finally:
        embedded.stop(pgdata)
        shutil.rmtree(folder, ignore_errors=True)


def _role(server: str, name: str, *grants: str, connect_elsewhere: bool = False) -> str:
    """A login role on ``server`` that owns its maintenance database; its URL."""
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD 'pw'").format(sql.Identifier(name))
        )
        for grant in grants:
            conn.execute(sql.SQL(grant).format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(name)
            )
        )
        if connect_elsewhere:
            conn.execute(
                sql.SQL("GRANT CONNECT ON DATABASE postgres TO {}").format(sql.Identifier(name))
            )
        else:
            for (db,) in conn.execute(
                "SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> %s",
                [name],
            ).fetchall():
                conn.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(
                    sql.Identifier(db)))  # fmt: skip
    params = psycopg.conninfo.conninfo_to_dict(server)
    host, port = quote(str(params.get("host", "")), safe=""), params.get("port") or 5432
    return f"postgresql://{name}:pw@/{name}?host={host}&port={port}"


def test_a_dedicated_unprivileged_role_is_accepted(other_server, db):
    url = _role(other_server, "rp_scratch_ok")
    assert scratch_server_problems(url, portal_server()) == []


@pytest.mark.parametrize(
    ("grants", "connect_elsewhere", "problem"),
    [
        (["ALTER ROLE {} SUPERUSER"], False, "is a superuser"),
        (["ALTER ROLE {} CREATEROLE"], False, "has CREATEROLE"),
        (["GRANT pg_execute_server_program TO {}"], False, "pg_execute_server_program"),
        (["GRANT pg_read_server_files TO {}"], False, "pg_read_server_files"),
        (["GRANT pg_write_server_files TO {}"], False, "pg_write_server_files"),
        (["GRANT pg_read_all_data TO {}"], False, "pg_read_all_data"),
        ([], True, "can connect to other databases"),
    ],
)
def test_a_role_with_powers_is_refused(other_server, db, grants, connect_elsewhere, problem):
    url = _role(other_server, "rp_scratch_bad", *grants, connect_elsewhere=connect_elsewhere)
    found = scratch_server_problems(url, portal_server())
    assert any(problem in p for p in found), found


def test_the_portals_own_server_is_refused(db):
    found = scratch_server_problems(pgtools.portal_server_url(), portal_server())
    assert "SCRATCH_DATABASE_URL names the portal's own server" in found


def test_off_without_acceptance_refuses_to_run_bundle_content(settings):
    settings.PORTAL_SANDBOX = "off"
    settings.PORTAL_ACCEPT_UNSANDBOXED = False
    with pytest.raises(SandboxError, match="PORTAL_ACCEPT_UNSANDBOXED=1"), open_sandbox():
        pass


def test_off_and_accepted_refuses_an_unsafe_scratch_server(settings, db):
    settings.PORTAL_SANDBOX = "off"
    settings.PORTAL_ACCEPT_UNSANDBOXED = True
    settings.SCRATCH_DATABASE_URL = pgtools.portal_server_url()
    with open_sandbox() as box:
        ctx = RunContext(sandbox=box)
        with pytest.raises(RunnerError, match="portal's own server"):
            ctx.scratch_server()


def test_off_and_accepted_uses_the_dedicated_server(settings, other_server, db):
    settings.PORTAL_SANDBOX = "off"
    settings.PORTAL_ACCEPT_UNSANDBOXED = True
    settings.SCRATCH_DATABASE_URL = _role(other_server, "rp_scratch_used")
    with open_sandbox() as box:
        url = RunContext(sandbox=box).scratch_server()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("rp_scratch_used",)


def test_off_never_runs_check_commands(settings, tmp_path, other_server, db):
    settings.PORTAL_SANDBOX = "off"
    settings.PORTAL_ACCEPT_UNSANDBOXED = True
    settings.SCRATCH_DATABASE_URL = _role(other_server, "rp_scratch_cmd")
    marker = tmp_path / "ran"
    with open_sandbox() as box:
        ctx = RunContext(
            repo_dir=tmp_path,
            options={"commands": [["touch", str(marker)]]},
            sandbox=box,
        )
        with pytest.raises(RunnerError, match="never run outside the sandbox"):
            commands.run(ctx)
    assert not marker.exists()


def _sandbox_messages() -> list[str]:
    return [str(m.id) for m in checks.run_checks(tags=["sandbox"])]


def test_check_is_quiet_when_the_sandbox_can_run(settings):
    settings.SCRATCH_DATABASE_URL = ""
    assert _sandbox_messages() == []


def test_check_says_scratch_database_url_is_ignored_under_the_sandbox(settings):
    settings.SCRATCH_DATABASE_URL = "postgresql://scratch@db.example/postgres"
    assert "sandbox.W002" in _sandbox_messages()


@pytest.mark.skipif(os.geteuid() != 0, reason="the uid matters to a root worker only")
def test_check_names_what_the_sandbox_lacks(settings):
    settings.PORTAL_SANDBOX_UID = 0  # a root worker may not "drop" to root
    messages = checks.run_checks(tags=["sandbox"])
    assert any("PORTAL_SANDBOX_UID must not be 0" in m.msg for m in messages)


def test_check_warns_when_off_is_not_accepted(settings):
    settings.PORTAL_SANDBOX = "off"
    settings.PORTAL_ACCEPT_UNSANDBOXED = False
    assert _sandbox_messages() == ["sandbox.W004"]


def test_check_verifies_the_scratch_server_when_off(settings, db):
    settings.PORTAL_SANDBOX = "off"
    settings.PORTAL_ACCEPT_UNSANDBOXED = True
    settings.SCRATCH_DATABASE_URL = pgtools.portal_server_url()
    assert "sandbox.W005" in _sandbox_messages()


def test_healthz_names_the_mode(client, db, settings):
    assert client.get(reverse("healthz")).json()["checks"]["sandbox"] == {
        "ok": True,
        "mode": "bwrap",
    }
    settings.PORTAL_SANDBOX = "off"
    settings.PORTAL_ACCEPT_UNSANDBOXED = False
    assert client.get(reverse("healthz")).json()["checks"]["sandbox"] == {
        "ok": False,
        "mode": "off",
    }
