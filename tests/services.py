"""Which PostgreSQL and Redis the tests use, decided before Django's settings load.

Loaded as a pytest plugin (``-p tests.services`` in pyproject.toml):

- ``DATABASE_URL`` when set;
- else the PostgreSQL at 127.0.0.1:5432 when it answers;
- else the embedded server from the wheel (DATABASE_URL left unset).

Redis tests use ``REDIS_URL`` (default ``redis://127.0.0.1:6379/0``). With
``REQUIRE_SERVICES=1`` (CI) there is no fallback: the system PostgreSQL and Redis must
answer, and a test that would skip for lack of one fails instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections import Counter
from urllib.parse import urlsplit

import pytest

SYSTEM_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES", "") in {"1", "true", "yes"}


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _url_reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    if not parts.hostname:  # a Unix socket: trust it, the connection will tell
        return True
    return reachable(parts.hostname, parts.port or default_port)


def _choose_database() -> str:
    if os.environ.get("DATABASE_URL"):
        return "DATABASE_URL"
    if REQUIRE_SERVICES or reachable("127.0.0.1", 5432):
        os.environ["DATABASE_URL"] = SYSTEM_DATABASE_URL
        return "system PostgreSQL at 127.0.0.1:5432"
    return "embedded PostgreSQL (.local/pg)"


DATABASE_CHOICE = _choose_database()
os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
# Tests run with production-like settings: DEBUG off, but plain HTTP (the test client).
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("HTTPS", "0")
os.environ.setdefault("SECRET_KEY", "test-secret-key-" + "x" * 40)
os.environ.setdefault("AUDIT_HMAC_KEY", "test-audit-hmac-key-" + "y" * 30)
# A fixed Ed25519 key (RFC 8032's first test vector): tests and the processes they start
# sign with the same key, and offline checks in tests get its public half.
os.environ.setdefault(
    "AUDIT_SIGNING_KEY",
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
    "-----END PRIVATE KEY-----\n",
)
# Tasks sent by services during tests go nowhere unless a test starts a real worker on
# its own broker; a running `make run` worker must never pick up test jobs.
os.environ.setdefault("CELERY_BROKER_URL", "memory://")
os.environ.setdefault("PORTAL_DATA_DIR", ".local/test")
# No collectstatic before tests: serve static files without the manifest.
os.environ.setdefault("STATIC_MANIFEST", "0")
# Server-wide names (roles) and the sandbox's folder are this run's own, so that runs of
# other checkouts on the same machine never drop or clean up what this one uses. Worker
# processes the tests start inherit both.
os.environ.setdefault("RP_TEST_RUN_TAG", uuid.uuid4().hex[:8])
os.environ.setdefault("PORTAL_SANDBOX_DIR", f"/tmp/rp-sb-test-{os.environ['RP_TEST_RUN_TAG']}")


def _xdist_worker_of_its_own() -> None:
    """Under pytest-xdist (``-n 2``) each worker (gw0, gw1...) is a run of its own.

    A worker inherits the controller's environment: the run tag (roles on the server),
    the sandbox's folder (job folders are named by job id, and both workers' databases
    count from 1) and the data folder (backups, the filesystem broker). Each worker
    suffixes them with its id once; processes it starts inherit the suffixed values.
    pytest-django suffixes the test database itself (``<TEST_DATABASE_NAME>_gw0``).
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker or os.environ.get("RP_TEST_XDIST_WORKER") == worker:
        return
    os.environ["RP_TEST_XDIST_WORKER"] = worker
    os.environ["RP_TEST_RUN_TAG"] += worker
    os.environ["PORTAL_SANDBOX_DIR"] += f"-{worker}"
    os.environ["PORTAL_DATA_DIR"] += f"-{worker}"
    os.environ["RP_TEST_SANDBOX_OWNER"] = str(os.getpid())


_xdist_worker_of_its_own()
SANDBOX_DIR = os.environ["PORTAL_SANDBOX_DIR"]


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"database: {DATABASE_CHOICE}",
        f"redis: {os.environ['REDIS_URL']} (REQUIRE_SERVICES={int(REQUIRE_SERVICES)})",
    ]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test gets a node id of its own. On pytest 9.2 Schemathesis's tests of the API's
    operations all get the function's id (their names alone hold the operation, in
    brackets, and pytest takes an id's brackets from parametrize only): pytest-xdist's
    file and group schedulers key tests by node id, and ran one of them in place of 14."""
    counts = Counter(item.nodeid for item in items)
    for item in items:
        name, bracket, params = item.name.partition("[")
        if counts[item.nodeid] > 1 and bracket and item.nodeid.endswith(f"::{name}"):
            item._id = item._id.with_params(params.removesuffix("]"))
    twice = [nodeid for nodeid, n in Counter(item.nodeid for item in items).items() if n > 1]
    if twice:
        raise pytest.UsageError(f"Tests share a node id (pytest-xdist would run one): {twice}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    # Only the run that made the folder removes it (its workers' runs are subprocesses).
    if os.environ.get("RP_TEST_SANDBOX_OWNER") == str(os.getpid()):
        shutil.rmtree(SANDBOX_DIR, ignore_errors=True)


os.environ.setdefault("RP_TEST_SANDBOX_OWNER", str(os.getpid()))


def pytest_sessionstart(session: pytest.Session) -> None:
    if not REQUIRE_SERVICES:
        return
    url = os.environ["DATABASE_URL"]
    if not _url_reachable(url, 5432):
        raise pytest.UsageError(f"REQUIRE_SERVICES=1 but PostgreSQL at {url} does not answer.")
    if not _url_reachable(os.environ["REDIS_URL"], 6379):
        raise pytest.UsageError(
            f"REQUIRE_SERVICES=1 but Redis at {os.environ['REDIS_URL']} does not answer."
        )


def need(service: str, ok: bool, why: str) -> None:
    """Skip (or, with REQUIRE_SERVICES=1, fail) a test whose service is missing."""
    if ok:
        return
    message = f"{service} is not reachable: {why}"
    if REQUIRE_SERVICES:
        pytest.fail(message + " (REQUIRE_SERVICES=1: missing services fail the run)")
    pytest.skip(message)


def redis_available() -> bool:
    return _url_reachable(os.environ["REDIS_URL"], 6379)
