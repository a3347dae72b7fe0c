"""Lock-order tests: a second connection to the test database, outside Django's, and a
wait until a thread's statement queues behind a lock that connection holds."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from django.conf import settings
from django.db import connection


def other_connection() -> psycopg.Connection:
    """A connection of its own to the test database (Django's stays the thread's)."""
    db = settings.DATABASES["default"]
    dsn = {"dbname": db["NAME"], "user": db["USER"], "host": db["HOST"] or None}
    dsn |= {"port": db["PORT"] or None, "password": db["PASSWORD"] or None}
    return psycopg.connect(**{k: v for k, v in dsn.items() if v is not None})


def backend_pid() -> int:
    """The PostgreSQL backend of this thread's Django connection (opened if need be): a
    thread appends it where ``wait_until_blocked`` looks."""
    connection.ensure_connection()
    return connection.connection.info.backend_pid


def wait_until_blocked(
    thread: threading.Thread,
    what: str,
    outcome: list[object],
    backends: list[int],
    seconds: float = 60,
) -> None:
    """Return once ``thread``'s session (its backend, which it appends to ``backends``
    first: ``backend_pid``) waits on a lock; fail, naming ``what`` and what ``thread`` put
    in ``outcome`` (its result or its error), if it ends first or ``seconds`` pass (a
    loaded machine may take a while to get the thread that far: a deadline, not a count of
    tries). Only that session counts: another waiting on a lock (autovacuum, a session a
    test before left) would let the test go on before the thread queued."""
    deadline = time.monotonic() + seconds
    with other_connection() as probe:
        while True:
            waiting = probe.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND pid = ANY(%s)",
                [backends[:1]],
            ).fetchone()
            if waiting and waiting[0]:
                return
            if not thread.is_alive() or time.monotonic() > deadline:
                pytest.fail(f"{what} never waited on the lock: {outcome or 'still running'}")
            threading.Event().wait(0.02)
