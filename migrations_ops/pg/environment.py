"""The portal's own environment variables, and the environment client tools are given.

ORM-free: the runners and the sandbox import it. It reads Django settings, never models.

- ``is_portal_variable(name)``: one of the portal's own variables
  (``settings.PORTAL_OWN_VARIABLES``, patterns such as ``AWS_*`` included). Such a
  variable is never handed to a project's scripts or to psql / pg_dump, and no target
  may name it.
- ``tool_environment()``: what psql, pg_dump and pg_restore start from: a fixed PATH, the
  locale and the time zone; never the rest of the worker's environment, where every
  project's database URL and the portal's secrets live.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from fnmatch import fnmatchcase

from django.conf import settings

TOOL_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Taken from the worker as they are: they change how output reads, never what is reached.
PASSED_THROUGH = ("LANG", "LC_ALL", "TZ")

# libpq's connection parameters and the variables that set them ("Environment
# Variables" in the libpq manual); parameters without one cannot come from a URL here.
LIBPQ_ENV = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "dbname": "PGDATABASE",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "passfile": "PGPASSFILE",
    "require_auth": "PGREQUIREAUTH",
    "channel_binding": "PGCHANNELBINDING",
    "service": "PGSERVICE",
    "options": "PGOPTIONS",
    "application_name": "PGAPPNAME",
    "sslmode": "PGSSLMODE",
    "sslnegotiation": "PGSSLNEGOTIATION",
    "sslcompression": "PGSSLCOMPRESSION",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcertmode": "PGSSLCERTMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcrl": "PGSSLCRL",
    "sslcrldir": "PGSSLCRLDIR",
    "sslsni": "PGSSLSNI",
    "requirepeer": "PGREQUIREPEER",
    "ssl_min_protocol_version": "PGSSLMINPROTOCOLVERSION",
    "ssl_max_protocol_version": "PGSSLMAXPROTOCOLVERSION",
    "gssencmode": "PGGSSENCMODE",
    "krbsrvname": "PGKRBSRVNAME",
    "gsslib": "PGGSSLIB",
    "gssdelegation": "PGGSSDELEGATION",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "client_encoding": "PGCLIENTENCODING",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "load_balance_hosts": "PGLOADBALANCEHOSTS",
}


def matches(name: str, patterns: Iterable[str]) -> bool:
    """Whether ``name`` is one of ``patterns`` (exact names, or with ``*`` wildcards)."""
    return any(fnmatchcase(name, pattern) for pattern in patterns)


def is_portal_variable(name: str) -> bool:
    """Whether ``name`` is one of the portal's own variables (in any letter case)."""
    return matches(name.upper(), (p.upper() for p in settings.PORTAL_OWN_VARIABLES))


def tool_environment() -> dict[str, str]:
    """The environment a PostgreSQL client tool starts from, before its PG* variables."""
    env = {"PATH": TOOL_PATH}
    for name in PASSED_THROUGH:
        value = os.environ.get(name)
        if value:
            env[name] = value
    if "LANG" not in env and "LC_ALL" not in env:
        env["LANG"] = "C.UTF-8"
    return env
