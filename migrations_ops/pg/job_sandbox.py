"""The sandbox a job's bundle content runs in, as the portal's settings choose it."""

from __future__ import annotations

import psycopg

from migrations_ops.pg.sandbox import Sandbox, SandboxConfig
from migrations_ops.pg.unsandboxed import PortalServer, Unsandboxed, _host_port

JobSandbox = Sandbox | Unsandboxed


def portal_server() -> PortalServer | None:
    """How to recognise the portal's own PostgreSQL server (for PORTAL_SANDBOX=off)."""
    from migrations_ops.pg import pgtools

    url = pgtools.portal_server_url()
    host, port = _host_port(url)
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute("SELECT pg_postmaster_start_time()::text").fetchone()
    except psycopg.Error:
        row = None
    return PortalServer(host=host, port=port, started_at=row[0] if row else None)


def open_sandbox(
    purpose: str = "job", config: SandboxConfig | None = None, time_limit: float | None = None
) -> JobSandbox:
    """A new (unopened) sandbox of the configured mode; use it as a context manager.

    ``time_limit``: seconds after which everything in the sandbox is stopped."""
    from django.conf import settings

    config = config or SandboxConfig.from_settings()
    if config.mode == "bwrap":
        return Sandbox(config, purpose=purpose, time_limit=time_limit)
    return Unsandboxed(
        config,
        accepted=bool(settings.PORTAL_ACCEPT_UNSANDBOXED),
        scratch_url=settings.SCRATCH_DATABASE_URL,
        portal=portal_server(),
    )
