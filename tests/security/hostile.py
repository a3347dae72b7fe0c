"""The hostile content every corpus test runs: attacks in SQL, in psql, in a shell script,
and what the tests look at afterwards (files, connections, outputs, the portal's state)."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

from django.conf import settings

from migrations_ops.models import Job, JobLogLine
from release_portal.accounts.models import Membership
from release_portal.audit.models import AuditEvent

BASE_DIR = Path(settings.BASE_DIR)


class Listener:
    """A TCP server on the worker's loopback: a sandbox must never reach it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


_DELETE_MEMBERS = "DELETE FROM accounts_membership"
_WIPE_LOG = "ALTER TABLE audit_auditevent DISABLE TRIGGER ALL; DELETE FROM audit_auditevent"


def _dblink(conninfo: str, statement: str) -> str:
    return f"SELECT dblink_exec('{conninfo}', '{statement}')"


def sql_attacks(tok: str, port: int, portal_db: str) -> str:
    """Statements that each try to get out; errors are caught so that every one runs."""
    data_dir = settings.DATA_DIR
    attempts = [
        # OS commands on the server, writing where the portal lives and reading secrets.
        f"COPY (SELECT 1) TO PROGRAM 'touch /tmp/{tok}-copy-program {data_dir}/{tok}-data "
        f"{BASE_DIR}/{tok}-checkout; env; cat /proc/1/environ'",
        "CREATE TEMP TABLE IF NOT EXISTS leak(t text)",
        "COPY leak FROM PROGRAM 'env; cat /proc/*/environ; ls -la /proc /work /root 2>&1'",
        "DO $x$ BEGIN RAISE NOTICE 'env: %', (SELECT string_agg(t, ' ') FROM leak); END $x$",
        f"COPY (SELECT 'x') TO '/tmp/{tok}-copy-to-file'",
        "SELECT lo_import('/etc/passwd')",
        f"SELECT pg_read_file('{data_dir}/secret_key')",
        f"SELECT pg_read_file('{data_dir}/audit_hmac_key')",
        "SELECT pg_read_file('/proc/1/environ')",
        "ALTER SYSTEM SET log_min_messages = 'debug5'",
        "CREATE EXTENSION IF NOT EXISTS dblink",
        _dblink(f"host=127.0.0.1 port=5432 user=postgres dbname={portal_db}", _DELETE_MEMBERS),
        _dblink(f"host=/var/run/postgresql user=postgres dbname={portal_db}", _WIPE_LOG),
        "CREATE EXTENSION IF NOT EXISTS postgres_fdw",
        f"CREATE SERVER IF NOT EXISTS portal FOREIGN DATA WRAPPER postgres_fdw "
        f"OPTIONS (host '127.0.0.1', port '5432', dbname '{portal_db}')",
        "CREATE USER MAPPING IF NOT EXISTS FOR CURRENT_USER SERVER portal "
        "OPTIONS (user 'postgres')",
        "IMPORT FOREIGN SCHEMA public LIMIT TO (accounts_membership) FROM SERVER portal "
        "INTO pg_temp",
        "DELETE FROM pg_temp.accounts_membership",
        "COPY (SELECT 1) TO PROGRAM "
        f"'python3 -c \"import socket; socket.create_connection((''127.0.0.1'', {port}), 2)\"'",
    ]
    blocks = []
    for statement in attempts:
        quoted = statement.replace("'", "''")
        blocks.append(
            "DO $attack$ BEGIN EXECUTE '" + quoted + "'; "
            "EXCEPTION WHEN others THEN RAISE NOTICE 'blocked: %', SQLERRM; END $attack$;"
        )
    return "\n".join(blocks) + "\n"


def psql_attacks(tok: str, port: int) -> str:
    data_dir = settings.DATA_DIR
    return (
        f"\\! touch /tmp/{tok}-psql-shell {data_dir}/{tok}-psql {BASE_DIR}/{tok}-psql; id; env\n"
        "\\! cat /proc/1/environ /proc/*/environ 2>/dev/null | tr '\\000' ' '\n"
        f"\\! cat {data_dir}/secret_key {data_dir}/audit_hmac_key 2>&1\n"
        f"\\! ls -la {BASE_DIR} {data_dir} / 2>&1\n"
        f"\\copy (select 'x') to '/tmp/{tok}-psql-copy'\n"
        f"\\! python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 2)\""
        " 2>&1\n"
    )


def check_script(tok: str, port: int) -> str:
    data_dir = settings.DATA_DIR
    return (
        "#!/bin/sh\n"
        f"touch /tmp/{tok}-script {data_dir}/{tok}-script {BASE_DIR}/{tok}-script\n"
        "id; env; cat /proc/1/environ; cat /proc/*/environ 2>/dev/null | tr '\\000' ' '\n"
        f"cat {data_dir}/secret_key {data_dir}/audit_hmac_key 2>&1\n"
        f"ls -la {BASE_DIR} {data_dir} /root 2>&1\n"
        f"python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 2)\" 2>&1\n"
        "echo script-ran\n"
    )


def job_outputs(job: Job) -> str:
    lines = JobLogLine.objects.filter(job=job).values_list("text", flat=True)
    return "\n".join([*lines, job.summary, job.error, json.dumps(job.result)])


def portal_state() -> dict:
    events = list(AuditEvent.objects.order_by("seq").values_list("seq", "hash"))
    return {
        "memberships": sorted(Membership.objects.values_list("user_id", "project_id", "role")),
        "events": events,
    }


def files_outside(tok: str) -> list[str]:
    places = [Path("/tmp"), Path(settings.DATA_DIR), BASE_DIR]
    return sorted(str(p) for folder in places if folder.is_dir() for p in folder.glob(f"{tok}*"))


MB = 1024 * 1024


class WorkerPeak:
    """How far the worker's peak resident memory rose inside a ``with`` block (Linux:
    the high-water mark is reset on entry, then read on exit). Bundle output must never
    be held by the worker whole, so a flood of it leaves this small."""

    def __enter__(self) -> WorkerPeak:
        Path("/proc/self/clear_refs").write_text("5")
        self._start = self._hwm()
        self.grown = 0
        return self

    def __exit__(self, *exc: object) -> None:
        self.grown = self._hwm() - self._start

    @staticmethod
    def _hwm() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmHWM in /proc/self/status")
