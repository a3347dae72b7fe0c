"""Lock-order tests: a second connection to the test database, outside Django's, and a
wait until a thread's statement queues behind a lock that connection holds."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

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
    thread: threading.Thread,
    what: str,
    outcome: list[object],
    holder: psycopg.Connection,
    seconds: float = 60,
) -> None:
    """Return once a session queues behind a lock ``holder`` holds (``pg_blocking_pids``):
    the thread's statement, the only one the test runs against it; fail, naming ``what``
    and what ``thread`` put in ``outcome`` (its result or its error), if it ends first or
    ``seconds`` pass (a loaded machine may take a while to get the thread that far: a
    deadline, not a count of tries). A session waiting on anything else (autovacuum, one
    a test before left) does not count."""
    deadline = time.monotonic() + seconds
    blocker = holder.info.backend_pid
    with other_connection() as probe:
        while True:
            waiting = probe.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                [blocker],
            ).fetchone()
            probe.rollback()
            if waiting and waiting[0]:
                return
            if not thread.is_alive() or time.monotonic() > deadline:
                pytest.fail(f"{what} never waited on the lock: {outcome or 'still running'}")
            threading.Event().wait(0.02)


def run_behind(holder: psycopg.Connection, what: str, call: Callable[[], object]) -> list[object]:
    """Run ``call`` in a thread of its own (with its own Django connection), wait until it
    queues behind a lock ``holder`` holds, commit ``holder``, and return what ``call``
    returned or raised (one item; none if it never ended)."""
    from django.db import connection

    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as e:  # said by the test's assertion, not lost in the thread
            outcome.append(e)
        finally:
            connection.close()

    worker = threading.Thread(target=run)
    worker.start()
    wait_until_blocked(worker, what, outcome, holder)
    holder.commit()
    worker.join(timeout=30)
    return outcome
