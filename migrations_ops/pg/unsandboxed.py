"""``PORTAL_SANDBOX=off``: bundle content runs on the worker, against a dedicated server.

For machines where bubblewrap cannot run (a container without user namespaces). The
operator must accept it (``PORTAL_ACCEPT_UNSANDBOXED=1``) and give a scratch server
whose role can do nothing outside the databases it creates:

- ``SCRATCH_DATABASE_URL`` set, and not the portal's own server;
- its role is not a superuser, has no CREATEROLE (but CREATEDB), is in none of
  ``pg_execute_server_program``, ``pg_read_server_files``, ``pg_write_server_files``,
  ``pg_read_all_data``, and cannot connect to databases it does not own (other than the
  one in the URL). The operator creates the Supabase roles (anon, authenticated...) in
  advance, since the role cannot.

Check commands (scripts from the bundle) are refused: they would run as the worker.
Every refusal is a ``SandboxError`` the job shows as it is.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from migrations_ops.pg.job_folder import JobFolder, SandboxConfig, SandboxError

DANGEROUS_ROLES = (
    "pg_execute_server_program",
    "pg_read_server_files",
    "pg_write_server_files",
    "pg_read_all_data",
)


@dataclass(frozen=True)
class PortalServer:
    """How to recognise the portal's own server."""

    host: str
    port: int
    started_at: str | None = None  # pg_postmaster_start_time(), as text


def _host_port(url: str) -> tuple[str, int]:
    params = psycopg.conninfo.conninfo_to_dict(url)
    host = str(params.get("host") or "/var/run/postgresql")
    port = int(params.get("port") or 5432)
    if host in {"localhost", "::1"}:
        host = "127.0.0.1"
    return host, port


def scratch_server_problems(url: str, portal: PortalServer | None) -> list[str]:
    """Why ``url`` may not hold scratch databases for unsandboxed bundle content."""
    if not url:
        return ["SCRATCH_DATABASE_URL is not set: name a dedicated server for scratch databases"]
    problems: list[str] = []
    if portal is not None and _host_port(url) == (portal.host, portal.port):
        problems.append("SCRATCH_DATABASE_URL names the portal's own server")
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as e:
        reason = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        return [*problems, f"the scratch server does not answer: {reason.replace(url, '<url>')}"]
    with conn:
        row = conn.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, current_user, current_database(), "
            "pg_postmaster_start_time()::text FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert row is not None
        superuser, createrole, createdb, user, dbname, started = row
        same = portal is not None and portal.started_at and started == portal.started_at
        if same and "SCRATCH_DATABASE_URL names the portal's own server" not in problems:
            problems.append("SCRATCH_DATABASE_URL names the portal's own server")
        if superuser:
            problems.append(f"the scratch role {user} is a superuser")
        if createrole:
            problems.append(f"the scratch role {user} has CREATEROLE")
        if not createdb:
            problems.append(f"the scratch role {user} lacks CREATEDB (it makes scratch databases)")
        for role in DANGEROUS_ROLES:
            member = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %s) "
                "AND pg_has_role(current_user, %s, 'MEMBER')",
                [role, role],
            ).fetchone()
            if member and member[0]:
                problems.append(f"the scratch role {user} is a member of {role}")
        others = [
            r[0]
            for r in conn.execute(
                "SELECT datname FROM pg_database WHERE NOT datistemplate AND datallowconn "
                "AND datname <> current_database() AND datdba <> "
                "(SELECT oid FROM pg_roles WHERE rolname = current_user) "
                "AND has_database_privilege(datname, 'CONNECT') ORDER BY 1"
            ).fetchall()
        ]
        if others:
            shown = ", ".join(others[:5]) + (" ..." if len(others) > 5 else "")
            problems.append(
                f"the scratch role {user} can connect to other databases ({shown}): "
                "REVOKE CONNECT ON DATABASE ... FROM PUBLIC on that server"
            )
        del dbname
    return problems


class Unsandboxed(JobFolder):
    """The sandbox's interface without isolation, for ``PORTAL_SANDBOX=off``."""

    isolated = False
    HOME = "/nonexistent"

    def __init__(
        self,
        config: SandboxConfig,
        *,
        accepted: bool,
        scratch_url: str,
        portal: PortalServer | None,
    ) -> None:
        self.config = config
        self.accepted = accepted
        self.scratch_url = scratch_url
        self.portal = portal
        self.folder: Path | None = None
        self.violation: str | None = None
        self.timed_out = False
        self._checked = False
        self._content_root: Path | None = None

    def open(self) -> None:
        if not self.accepted:
            raise SandboxError(
                "PORTAL_SANDBOX=off: bundle content (migrations, tests, fixtures, scripts) "
                "would run without the sandbox, so it does not run. Install bubblewrap and "
                "set PORTAL_SANDBOX=bwrap, or accept the risk with "
                "PORTAL_ACCEPT_UNSANDBOXED=1 and a dedicated SCRATCH_DATABASE_URL"
            )
        self.folder = Path(tempfile.mkdtemp(prefix="rp-unsandboxed-"))
        (self.folder / "in").mkdir()

    def close(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def add_content(self, root: Path) -> None:
        self._content_root = Path(root)

    def content_path(self) -> Path:
        return self._content()

    def inside(self, host_path: Path | str) -> str:
        return str(host_path)

    def server_url(self, database: str | None = None, **kwargs: Any) -> str:
        """The scratch server: its URL as given (the role's own maintenance database), or
        ``database`` on it."""
        if not self._checked:
            problems = scratch_server_problems(self.scratch_url, self.portal)
            if problems:
                raise SandboxError(
                    "PORTAL_SANDBOX=off and the scratch server is not safe for bundle content: "
                    + "; ".join(problems)
                )
            self._checked = True
        from migrations_ops.pg import pgtools

        if database is None:
            return self.scratch_url
        return pgtools.with_database(self.scratch_url, database)

    @property
    def cluster_started(self) -> bool:
        return self._checked

    def client_env(self, url: str) -> dict[str, str]:
        from migrations_ops.pg import pgtools

        return pgtools.libpq_env(url)

    def command(
        self, argv: Sequence[str], *, cwd: str | None = None, writable_copy: str | None = None
    ) -> list[str]:
        if writable_copy is not None:
            raise SandboxError(
                "PORTAL_SANDBOX=off: the project's check commands are scripts from the bundle "
                "and never run outside the sandbox; install bubblewrap (PORTAL_SANDBOX=bwrap)"
            )
        return list(argv)

    def describe(self) -> dict[str, Any]:
        return {"mode": "off", "scratch_server": "SCRATCH_DATABASE_URL"}
