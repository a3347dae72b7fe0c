"""The PostgreSQL cluster a sandbox runs for its job's scratch databases.

It listens only on a Unix socket in the job's folder (``INNER_SOCK`` inside the sandbox).
``secure`` sets a random password for the job and switches the cluster to SCRAM only
before any bundle content runs; the worker's URL requires SCRAM, so a socket swapped
for a link to another server fails the mutual check.
"""

from __future__ import annotations

import subprocess
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import psycopg
from psycopg import sql

from migrations_ops.pg.bounded_output import lines
from migrations_ops.pg.installations import Installation
from migrations_ops.pg.job_folder import SandboxError

INNER_SOCK = "/job/sock"
PG_PORT = 5432


@dataclass
class Cluster:
    """A PostgreSQL cluster running inside one job's sandbox."""

    installation: Installation
    socket_dir: Path  # on the host
    password: str
    process: subprocess.Popen[bytes]
    log_tail: deque[str]
    extensions: list[str] = field(default_factory=list)

    def url(self, database: str = "postgres") -> str:
        """The worker's URL: only SCRAM with this job's password is accepted."""
        query = f"host={quote(str(self.socket_dir))}&port={PG_PORT}&require_auth=scram-sha-256"
        return f"postgresql://postgres:{self.password}@/{quote(database)}?{query}"

    def inner_env(self, database: str) -> dict[str, str]:
        """libpq variables for a client inside the sandbox."""
        return {
            "PGHOST": INNER_SOCK,
            "PGPORT": str(PG_PORT),
            "PGUSER": "postgres",
            "PGPASSWORD": self.password,
            "PGDATABASE": database,
        }

    def describe(self) -> dict[str, Any]:
        return {
            "postgres": self.installation.version,
            "major": self.installation.major,
            "source": self.installation.source,
            "extensions": self.extensions,
        }


def pump_tail(stream: IO[bytes], tail: deque[str]) -> None:
    """Keep the last lines of the cluster's log, each cut short: ``RAISE WARNING`` writes
    whatever bundle content likes into that log."""
    with stream:
        for raw in lines(stream):
            tail.append(raw.decode("utf-8", "replace").rstrip())


def secure(cluster: Cluster) -> None:
    """Wait for the cluster, set this job's password and switch it to SCRAM only.

    The first connection trusts the socket: nothing from the bundle has run yet, and no
    other process can write the job's socket folder.
    """
    deadline = time.monotonic() + 30
    trust = f"host={cluster.socket_dir} port={PG_PORT} user=postgres dbname=postgres"
    while True:
        if cluster.process.poll() is not None:
            said = " | ".join(list(cluster.log_tail)[-5:]) or "no message"
            raise SandboxError(f"the sandbox's PostgreSQL did not start: {said}")
        try:
            conn = psycopg.connect(trust, autocommit=True, connect_timeout=5)
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise SandboxError(
                    "the sandbox's PostgreSQL did not accept connections within 30 s"
                ) from None
            time.sleep(0.01)
    with conn:
        conn.execute(
            sql.SQL("ALTER ROLE postgres PASSWORD {}").format(sql.Literal(cluster.password))
        )
        conn.execute("COPY (SELECT 'local all all scram-sha-256') TO '/pg/data/pg_hba.conf'")
        conn.execute("SELECT pg_reload_conf()")
        cluster.extensions = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM pg_available_extensions ORDER BY name"
            ).fetchall()
        ]
    while True:
        try:
            psycopg.connect(cluster.url(), connect_timeout=5).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise SandboxError("the sandbox's PostgreSQL did not switch to SCRAM") from None
            time.sleep(0.005)
