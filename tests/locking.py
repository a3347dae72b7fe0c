"""Lock-order tests: a second connection to the test database, outside Django's, and a
wait until a thread's statement queues behind a lock that connection holds."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from django.conf import settings


def other_connection() -> psycopg.Connection:
    """A connection of its own to the test database (Django's stays the thread's)."""
    db = settings.DATABASES["default"]
    dsn = {"dbname": db["NAME"], "user": db["USER"], "host": db["HOST"] or None}
    dsn |= {"port": db["PORT"] or None, "password": db["PASSWORD"] or None}
    return psycopg.connect(**{k: v for k, v in dsn.items() if v is not None})


def wait_until_blocked(
    thread: threading.Thread, what: str, outcome: list[object], seconds: float = 60
) -> None:
    """Return once some session of the test database waits on a lock; fail, naming
    ``what`` and what ``thread`` put in ``outcome`` (its result or its error), if it ends
    first or ``seconds`` pass (a loaded machine may take a while to get the thread that
    far: a deadline, not a count of tries)."""
    deadline = time.monotonic() + seconds
    with other_connection() as probe:
        while True:
            waiting = probe.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()"
            ).fetchone()
            if waiting and waiting[0]:
                return
            if not thread.is_alive() or time.monotonic() > deadline:
                pytest.fail(f"{what} never waited on the lock: {outcome or 'still running'}")
            threading.Event().wait(0.02)
