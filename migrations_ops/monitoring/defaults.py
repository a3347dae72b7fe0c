"""The health queries every project starts with (created once, on first use)."""

from __future__ import annotations

from typing import Any

# Scoped to the target's own database: pg_locks and pg_stat_activity show the whole
# server, which may host other databases.
BLOCKED_LOCKS = (
    "select count(*) from pg_locks l join pg_stat_activity a on a.pid = l.pid "
    "where not l.granted and a.datname = current_database()"
)
LONG_RUNNING = (
    "select count(*) from pg_stat_activity where datname = current_database() "
    "and state <> 'idle' and backend_type = 'client backend' and pid <> pg_backend_pid() "
    "and now() - query_start > interval '5 minutes'"
)
ROLLBACKS = "select xact_rollback from pg_stat_database where datname = current_database()"

DEFAULT_QUERIES: list[dict[str, Any]] = [
    {
        "builtin": "blocked_locks",
        "name": "Lock requests waiting",
        "sql": BLOCKED_LOCKS,
        "threshold": 0,
        "comparison": "gt",
        "delta": False,
    },
    {
        "builtin": "long_running",
        "name": "Statements running over 5 minutes",
        "sql": LONG_RUNNING,
        "threshold": 0,
        "comparison": "gt",
        "delta": False,
    },
    {
        # A counter since the server started: compared as the change since the last
        # sample. 50 a minute is a starting point; tune it to the application's normal.
        "builtin": "rollbacks",
        "name": "Transactions rolled back since the last sample",
        "sql": ROLLBACKS,
        "threshold": 50,
        "comparison": "gt",
        "delta": True,
    },
]
