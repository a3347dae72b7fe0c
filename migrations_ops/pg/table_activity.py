"""What a run did to each table, from PostgreSQL's own table statistics.

``snapshot`` reads ``pg_stat_user_tables`` (scans, inserted, updated and deleted rows,
counted even in transactions that rolled back); ``touched`` is the difference between
two snapshots: per table, which of SELECT / INSERT / UPDATE / DELETE the run did at all.

It measures tables and operations, never who did them: the statistics do not keep the
role. Statistics reach the shared counters when a session ends, so ``snapshot`` first
waits (briefly) for the database's other sessions to be gone.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import psycopg

Counters = dict[str, tuple[int, int, int, int]]
OPERATIONS = ("SELECT", "INSERT", "UPDATE", "DELETE")

_READ = """
SELECT schemaname || '.' || relname,
       coalesce(seq_scan, 0) + coalesce(idx_scan, 0), n_tup_ins, n_tup_upd, n_tup_del
FROM pg_catalog.pg_stat_user_tables
WHERE schemaname = ANY(%(schemas)s)
"""
_OTHERS = """
SELECT count(*) FROM pg_catalog.pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
"""


def snapshot(conn: psycopg.Connection, schemas: Sequence[str], *, wait: float = 3.0) -> Counters:
    """The counters of every table in ``schemas`` now (``conn`` in autocommit)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        row = conn.execute(_OTHERS).fetchone()
        if not row or row[0] == 0:
            break
        time.sleep(0.05)
    conn.execute("SELECT pg_catalog.pg_stat_clear_snapshot()")
    rows = conn.execute(_READ, {"schemas": list(schemas)}).fetchall()
    return {name: (reads, ins, upd, dele) for name, reads, ins, upd, dele in rows}


def touched(before: Counters, after: Counters) -> dict[str, list[str]]:
    """Per table, the operations whose counters moved between the two snapshots."""
    out: dict[str, list[str]] = {}
    for table, counts in sorted(after.items()):
        old = before.get(table, (0, 0, 0, 0))
        done = [op for op, new, was in zip(OPERATIONS, counts, old, strict=True) if new > was]
        if done:
            out[table] = done
    return out
