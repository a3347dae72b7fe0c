"""Reading health queries from a target without ever changing it.

Each query runs in its own ``BEGIN READ ONLY`` transaction with a ``statement_timeout``
(``MONITORING_STATEMENT_TIMEOUT_MS``) and a short ``lock_timeout``, as ONE statement over
the extended protocol (a second command is a syntax error there), and is rolled back.
A READ ONLY transaction refuses every table write, DDL and ``nextval``; the few
functions with effects outside the transaction that it does not stop (ending or
cancelling other sessions, advisory locks, files, dblink...) are refused by name when a
query is saved (``check_health_sql``). The connection is closed after each sample.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import sql
from psycopg.pq import ExecStatus

from migrations_ops.pg.sqlsplit import split_statements
from migrations_ops.runners.base import no_url

CONNECT_TIMEOUT = 5
_READ_STATEMENT = re.compile(r"^\s*(select|with|values|table|show)\b", re.IGNORECASE)
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
# Effects a READ ONLY transaction does not stop.
_SIDE_EFFECTS = re.compile(
    r"\b(pg_terminate_backend|pg_cancel_backend|pg_reload_conf|pg_rotate_logfile|"
    r"pg_(try_)?advisory\w*|pg_switch_wal|pg_promote|pg_create\w*|pg_drop\w*|"
    r"pg_log_backend_memory_contexts|pg_stat_reset\w*|pg_notify|set_config|"
    r"lo_\w+|dblink\w*|pg_file_write|pg_read_\w*file|pg_ls_\w+|"
    r"http_\w+|net\.\w+)\s*\(",
    re.IGNORECASE,
)


class HealthSqlError(ValueError):
    """A health query that may not be saved, with what to change."""


def check_health_sql(text: str) -> str:
    """The query as it will run, or HealthSqlError: one read statement, no side effects."""
    statements = split_statements(text)
    if len(statements) != 1:
        raise HealthSqlError(
            f"write exactly one statement (found {len(statements)}): a health query "
            "returns one number, such as the count of lock requests not granted"
        )
    statement = statements[0].text
    bare = _COMMENTS.sub(" ", statement)
    if not _READ_STATEMENT.match(bare):
        raise HealthSqlError("a health query only reads: start it with SELECT or WITH")
    found = _SIDE_EFFECTS.search(bare)
    if found:
        raise HealthSqlError(
            f"{found.group(1)}() acts outside the read-only transaction the query runs in: "
            "health queries may not call it"
        )
    return statement


@dataclass
class Reading:
    query_id: int
    raw: float | None = None
    error: str = ""


def _number(value: Any) -> float:
    if value is None:
        raise ValueError("the query returned NULL, not a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"the query returned {str(value)[:40]!r}, not a number") from None


def redact(text: str, url: str) -> str:
    """``text`` without the URL or its password (errors may quote the connection string)."""
    secrets = [url]
    password = urlsplit(url).password
    if password:
        secrets += [password, unquote(password)]
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _extended_query(conn: psycopg.Connection, query_sql: str) -> Any:
    """The first column of the first row, over the extended protocol (one statement only)."""
    result = conn.pgconn.exec_params(query_sql.encode(), None)
    if result.status in (ExecStatus.FATAL_ERROR, ExecStatus.BAD_RESPONSE):
        raise psycopg.errors.error_from_result(result, encoding=conn.info.encoding)
    if result.status != ExecStatus.TUPLES_OK or result.ntuples == 0 or result.nfields == 0:
        raise ValueError("the query returned no row")
    value = result.get_value(0, 0)
    return None if value is None else value.decode(conn.info.encoding, errors="replace")


def read_one(conn: psycopg.Connection, query_sql: str, *, timeout_ms: int) -> float:
    """One query's number, in a READ ONLY transaction that is always rolled back."""
    conn.execute("BEGIN READ ONLY")
    try:
        conn.execute(
            sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(int(timeout_ms)))
        )
        conn.execute("SET LOCAL lock_timeout = 1000")
        return _number(_extended_query(conn, query_sql))
    finally:
        if not conn.closed:
            conn.execute("ROLLBACK")


def read_all(
    url: str | None,
    queries: list[tuple[int, str]],
    *,
    target: str,
    timeout_ms: int,
    variable: str = "",
) -> list[Reading]:
    """A reading per ``(query id, sql)``; errors are readings too, with the URL redacted.
    ``variable`` names the environment variable the URL comes from, for when it is unset."""
    if not url:
        return [Reading(qid, error=no_url(target, variable)) for qid, _ in queries]
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
    except psycopg.Error as e:
        message = f"could not connect to {target}: {redact(_first_line(e), url)}"
        return [Reading(qid, error=message[:500]) for qid, _ in queries]
    readings = []
    with conn:
        conn.execute("SET application_name = 'release-portal monitoring'")
        for qid, query_sql in queries:
            try:
                readings.append(Reading(qid, raw=read_one(conn, query_sql, timeout_ms=timeout_ms)))
            except (psycopg.Error, ValueError) as e:
                readings.append(Reading(qid, error=redact(_first_line(e), url)[:500]))
                if conn.closed or conn.broken:
                    break
    done = {r.query_id for r in readings}
    readings += [
        Reading(qid, error=f"the connection to {target} was lost")
        for qid, _ in queries
        if qid not in done
    ]
    return readings
