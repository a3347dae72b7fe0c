"""Scratch databases: created for one job on the scratch server, always dropped after.

Each name is recorded through ``on_create`` before anything else happens, so that if the
worker is killed midway the reaper can drop what the dead job left behind.
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections.abc import Callable, Iterator

import psycopg
from psycopg import sql

from migrations_ops.pg import pgtools

logger = logging.getLogger(__name__)

PREFIX = "rp_scratch_"
_SAFE = re.compile(r"[^a-z0-9_]")


def scratch_name(purpose: str) -> str:
    tag = _SAFE.sub("_", purpose.lower())[:20]
    return f"{PREFIX}{tag}_{uuid.uuid4().hex[:12]}"


def create_database(server_url: str, name: str) -> str:
    with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    return pgtools.with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    """Drop ``name`` even if sessions are still connected to it."""
    if not name.startswith(PREFIX):
        raise ValueError(f"refusing to drop {name!r}: not a scratch database")
    with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@contextlib.contextmanager
def scratch_database(
    *,
    purpose: str,
    server_url: str | None = None,
    on_create: Callable[[str], None] | None = None,
    on_drop: Callable[[str], None] | None = None,
) -> Iterator[str]:
    """Yield the URL of a new, empty database; drop it on the way out, whatever happened."""
    server = server_url or pgtools.scratch_server_url()
    name = scratch_name(purpose)
    if on_create:
        on_create(name)
    url = create_database(server, name)
    try:
        yield url
    finally:
        try:
            drop_database(server, name)
        except psycopg.Error:
            logger.exception("could not drop scratch database %s; the reaper will retry", name)
        else:
            if on_drop:
                on_drop(name)


def list_scratch_databases(server_url: str | None = None) -> list[str]:
    server = server_url or pgtools.scratch_server_url()
    with psycopg.connect(server, autocommit=True, connect_timeout=10) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s ORDER BY datname",
            [PREFIX + "%"],
        ).fetchall()
    return [r[0] for r in rows]
