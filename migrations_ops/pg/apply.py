"""Apply migration files to a database the way the Supabase CLI does.

What the CLI does, and so what this does (supabase/cli ``pkg/migration/apply.go``
``ApplyMigrations``, ``pkg/migration/history.go`` ``CreateMigrationTable``,
``pkg/migration/file.go`` ``ExecBatch``, and the current CLI's
``apps/cli/src/legacy/shared/legacy-migration-apply.ts`` ``execMigrationBatch``):

1. Once, when there is anything to apply: ``SET lock_timeout = '4s'``, then
   ``CREATE SCHEMA IF NOT EXISTS supabase_migrations``, the table
   ``schema_migrations (version text NOT NULL PRIMARY KEY)`` and its ``statements
   text[]`` and ``name text`` columns.
2. Per file, in version order: ``RESET ALL`` (so a ``search_path`` or other setting a
   file changed never leaks into the next one), then the file's statements (split by
   ``sqlsplit``) and ``INSERT INTO supabase_migrations.schema_migrations(version, name,
   statements)`` as ONE transaction: all of the file or none of it. An enum value added
   in one file can be used in the next, because each file commits.
3. A file with its own transaction control (``BEGIN;`` ... ``COMMIT;``), or whose first
   line is ``-- pg-delta: transaction=false``, runs statement by statement exactly as
   written, without a wrapping transaction; its history row is inserted only after every
   statement succeeded, and a failure is followed by ``ROLLBACK``. What it committed
   before the failure stays committed, as with the CLI.

Two additions the CLI does not make, so a rehearsal fails clearly instead of hanging or
lying: after ``RESET ALL`` each file runs with ``lock_timeout`` (default 10s), and a
file that opens a transaction it never commits is reported (the CLI would lose it
when it disconnects). Statements that cannot run in a transaction block (``CREATE
INDEX CONCURRENTLY``, ``VACUUM``...) fail with SQLSTATE 25001 by default, as they do
with CLI versions before 2.109; ``non_transactional="standalone"`` runs them on their own
between two transactions, as later CLI versions do.

The connection must be in autocommit mode; this module opens and closes transactions.
Statements go over the extended query protocol, one at a time, like the CLI's batch,
so a "statement" holding two commands fails here as it does there.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import psycopg
from psycopg import sql
from psycopg.pq import ConnStatus, ExecStatus, TransactionStatus
from psycopg.pq.abc import PGconn, PGresult

from migrations_ops.pg.apply_report import (
    ApplyFailure,
    ApplyReport,
    FileResult,
    Kind,
    failure_from_error,
)
from migrations_ops.pg.sqlsplit import (
    Statement,
    cannot_run_in_transaction,
    has_no_transaction_directive,
    is_transaction_control,
    split_statements,
)
from migrations_ops.pg.supabase_files import parse_filename

LogFn = Callable[[str, str], None]  # (stream, text), as RunContext.log

HISTORY_TABLE_DDL = (
    "SET lock_timeout = '4s'",
    "CREATE SCHEMA IF NOT EXISTS supabase_migrations",
    "CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations "
    "(version text NOT NULL PRIMARY KEY)",
    "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS statements text[]",
    "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS name text",
)
INSERT_HISTORY = (
    "INSERT INTO supabase_migrations.schema_migrations(version, name, statements) "
    "VALUES (%s, %s, %s)"
)
_MAX_NOTICES = 20
_MAX_NOTICE_CHARS = 2000
_OPEN = (TransactionStatus.INTRANS, TransactionStatus.INERROR)


@dataclass(frozen=True)
class MigrationFile:
    """One migration file: its CLI version and name, its text and its statements."""

    filename: str
    version: str
    name: str
    text: str
    statements: tuple[Statement, ...]
    path: Path | None = None

    @classmethod
    def from_text(cls, filename: str, text: str, *, path: Path | None = None) -> MigrationFile:
        parsed = parse_filename(filename)
        if parsed is None:
            raise ValueError(
                f"{filename}: not a migration file name; the Supabase CLI only runs files "
                "named <version>_<name>.sql"
            )
        return cls(
            filename=filename,
            version=parsed[0],
            name=parsed[1],
            text=text,
            statements=tuple(split_statements(text)),
            path=path,
        )

    @classmethod
    def from_path(cls, path: Path) -> MigrationFile:
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(
                f"{path.name}: not valid UTF-8 (byte {e.start}); PostgreSQL would refuse "
                "it too. Save the file as UTF-8."
            ) from None
        return cls.from_text(path.name, text, path=path)


class StatementHook(Protocol):
    """Told about each statement ``apply_file`` runs (the risk job times them and reads
    their locks); ``after`` gets the rows the statement affected, when it says."""

    def before(self, migration: MigrationFile, statement: Statement) -> None: ...

    def after(self, migration: MigrationFile, statement: Statement, rows: int | None) -> None: ...

    def file_done(self, migration: MigrationFile, result: FileResult) -> None: ...


class _Failed(Exception):
    def __init__(self, failure: ApplyFailure) -> None:
        super().__init__(failure.describe())
        self.failure = failure


def create_history_table(conn: psycopg.Connection) -> None:
    """The CLI's ``CreateMigrationTable``, as one transaction."""
    with conn.transaction():
        for statement in HISTORY_TABLE_DDL:
            conn.execute(statement)


def apply_files(
    conn: psycopg.Connection,
    files: Iterable[MigrationFile],
    *,
    log: LogFn,
    on_file: Callable[[FileResult], None] | None = None,
    stop_on_error: bool = True,
    lock_timeout: str | None = "10s",
    non_transactional: Literal["fail", "standalone"] = "fail",
    record_history: bool = True,
    checkpoint: Callable[[], None] | None = None,
    statement_hook: StatementHook | None = None,
) -> ApplyReport:
    """Apply ``files`` in version order, one transaction per file, like ``supabase db push``.

    ``checkpoint`` is called before each file and may raise (e.g. JobCancelled); the open
    transaction, if any, is rolled back first. With ``stop_on_error`` the files after a
    failure are listed in ``not_attempted``; without it every file is tried.
    """
    if not conn.autocommit:
        raise ValueError("apply_files needs an autocommit connection: it manages transactions")
    ordered = sorted(files, key=lambda f: f.version)
    report = ApplyReport()
    if ordered and record_history:
        create_history_table(conn)
    for position, migration in enumerate(ordered):
        if checkpoint:
            checkpoint()
        log("info", f"Applying migration {migration.filename}...")
        result = apply_file(
            conn,
            migration,
            lock_timeout=lock_timeout,
            non_transactional=non_transactional,
            record_history=record_history,
            statement_hook=statement_hook,
        )
        report.files.append(result)
        if result.failure:
            log("error", result.failure.describe())
        if on_file:
            on_file(result)
        if not result.ok and stop_on_error:
            report.not_attempted = [m.filename for m in ordered[position + 1 :]]
            break
    return report


def apply_file(
    conn: psycopg.Connection,
    migration: MigrationFile,
    *,
    lock_timeout: str | None = "10s",
    non_transactional: Literal["fail", "standalone"] = "fail",
    record_history: bool = True,
    statement_hook: StatementHook | None = None,
) -> FileResult:
    """Apply one file: ``RESET ALL``, then its statements and history row."""
    statements = migration.statements
    if has_no_transaction_directive(migration.text):
        mode: Literal["transaction", "own_transactions", "no_transaction"] = "no_transaction"
    elif any(is_transaction_control(s.text) for s in statements):
        mode = "own_transactions"
    else:
        mode = "transaction"
    result = FileResult(
        filename=migration.filename,
        version=migration.version,
        ok=False,
        seconds=0.0,
        statements=len(statements),
        mode=mode,
    )

    def on_notice(diag: psycopg.errors.Diagnostic) -> None:
        if len(result.notices) < _MAX_NOTICES:
            # Cut short: a notice says what bundle content likes, as long as it likes.
            message = (diag.message_primary or "")[:_MAX_NOTICE_CHARS]
            result.notices.append(f"{diag.severity}: {message}")

    conn.add_notice_handler(on_notice)
    started = time.monotonic()
    try:
        _run(conn, "RESET ALL", migration, None)
        if lock_timeout:
            setting = sql.SQL("SET lock_timeout = {}").format(sql.Literal(lock_timeout))
            _run(conn, setting, migration, None)
        if mode == "transaction":
            _apply_in_transaction(
                conn, migration, non_transactional, record_history, result, statement_hook
            )
        else:
            result.notes.append(
                "this file manages its own transactions (BEGIN/COMMIT or the pg-delta "
                "directive): its statements ran one by one as written, as the CLI runs "
                "them; what they committed before a failure stays committed"
            )
            _apply_as_written(conn, migration, record_history, statement_hook)
        result.ok = True
    except _Failed as failed:
        result.failure = failed.failure
    finally:
        result.seconds = time.monotonic() - started
        if not conn.closed:
            if conn.info.transaction_status in _OPEN:
                conn.execute("ROLLBACK")
            conn.remove_notice_handler(on_notice)
        if statement_hook:
            statement_hook.file_done(migration, result)
    return result


def _run(
    conn: psycopg.Connection,
    query: str | sql.Composed,
    migration: MigrationFile,
    statement: Statement | None,
) -> int | None:
    """Run one statement over the extended protocol; raise _Failed on an error.

    Returns the rows it affected, when its command tag says (INSERT, UPDATE, DELETE...).
    """
    try:
        return _execute(
            conn, query.as_bytes(conn) if isinstance(query, sql.Composed) else query.encode()
        )
    except psycopg.Error as e:
        if isinstance(e, psycopg.OperationalError) and conn.closed:
            raise
        raise _Failed(
            failure_from_error(
                e, file=migration.filename, version=migration.version, statement=statement
            )
        ) from None


def _execute(conn: psycopg.Connection, query: bytes) -> int | None:
    """Parse/Bind/Execute one statement with text results, as the CLI's batch sends it.

    psycopg's own execute() would use the simple protocol (which accepts two commands
    in one string, where the CLI fails) or binary results (which fail for types without
    a binary output function), so this goes through libpq directly.

    Rows come one at a time and are dropped at once (libpq's single-row mode): a
    migration is bundle content, and its ``SELECT`` may return more than the worker could
    hold, where ``exec_params`` would gather all of it first.
    """
    pgconn = conn.pgconn
    pgconn.send_query_params(query, None)
    pgconn.set_single_row_mode()
    _flush(pgconn)
    final: PGresult | None = None
    while (result := _next_result(pgconn)) is not None:
        if result.status == ExecStatus.SINGLE_TUPLE:
            continue
        if result.status == ExecStatus.COPY_IN:
            # COPY ... FROM stdin has no data to read in a migration; the CLI fails too.
            pgconn.put_copy_end(b"COPY FROM stdin cannot run in a migration file")
        elif result.status == ExecStatus.COPY_OUT:
            while pgconn.get_copy_data(0)[0] >= 0:
                pass
        if final is None or final.status not in _FAILED:
            final = result
    if final is None or final.status in _FAILED:
        if pgconn.status != ConnStatus.OK:
            raise psycopg.OperationalError(pgconn.get_error_message(conn.info.encoding))
        if final is None:
            raise psycopg.OperationalError("the server sent no result")
        raise psycopg.errors.error_from_result(final, encoding=conn.info.encoding)
    return final.command_tuples


_FAILED = (ExecStatus.FATAL_ERROR, ExecStatus.BAD_RESPONSE)


def _flush(pgconn: PGconn) -> None:
    """Send what libpq still holds of the query: psycopg's connections do not block, so a
    long statement goes out in parts (libpq's PQflush protocol)."""
    while pgconn.flush():
        readable, _, _ = select.select([pgconn.socket], [pgconn.socket], [], _WAIT_S)
        if readable:
            pgconn.consume_input()


def _next_result(pgconn: PGconn) -> PGresult | None:
    """The next result of the query sent, waiting for it in ``select`` (which lets the
    worker's other threads, the heartbeat, run while a statement takes its time)."""
    while pgconn.is_busy():
        if pgconn.status != ConnStatus.OK:
            raise psycopg.OperationalError("the connection to the server was lost")
        select.select([pgconn.socket], [], [], _WAIT_S)
        pgconn.consume_input()
    return pgconn.get_result()


_WAIT_S = 1.0


def _insert_history(conn: psycopg.Connection, migration: MigrationFile) -> None:
    try:
        conn.execute(
            INSERT_HISTORY,
            [migration.version, migration.name, [s.text for s in migration.statements]],
        )
    except psycopg.Error as e:
        failure = failure_from_error(
            e, file=migration.filename, version=migration.version, statement=None
        )
        failure.message = f"recording the migration in schema_migrations failed: {failure.message}"
        if e.sqlstate == "23505":
            failure.advice = (
                f"version {migration.version} is already in the history table: two files "
                "share a version, or it was applied before; rename the file with a new "
                "timestamp (supabase migration new) or repair the history"
            )
        raise _Failed(failure) from None


def _apply_in_transaction(
    conn: psycopg.Connection,
    migration: MigrationFile,
    non_transactional: str,
    record_history: bool,
    result: FileResult,
    hook: StatementHook | None,
) -> None:
    conn.execute("BEGIN")
    for statement in migration.statements:
        if non_transactional == "standalone" and cannot_run_in_transaction(statement.text):
            conn.execute("COMMIT")
            _run_statement(conn, migration, statement, hook)
            conn.execute("BEGIN")
            result.notes.append(
                f"statement {statement.number} (line {statement.line}) cannot run in a "
                "transaction: it ran on its own, and the statements before it were "
                "committed separately"
            )
            continue
        _run_statement(conn, migration, statement, hook)
    if record_history:
        _insert_history(conn, migration)
    conn.execute("COMMIT")


def _run_statement(
    conn: psycopg.Connection,
    migration: MigrationFile,
    statement: Statement,
    hook: StatementHook | None,
) -> None:
    if hook:
        hook.before(migration, statement)
    rows = _run(conn, statement.text, migration, statement)
    if hook:
        hook.after(migration, statement, rows)


def _apply_as_written(
    conn: psycopg.Connection,
    migration: MigrationFile,
    record_history: bool,
    hook: StatementHook | None = None,
) -> None:
    opened_at: Statement | None = None
    for statement in migration.statements:
        if (
            opened_at is None
            and conn.info.transaction_status == TransactionStatus.IDLE
            and is_transaction_control(statement.text)
        ):
            opened_at = statement
        _run_statement(conn, migration, statement, hook)
        if conn.info.transaction_status == TransactionStatus.IDLE:
            opened_at = None
    if conn.info.transaction_status != TransactionStatus.IDLE:
        where = opened_at or migration.statements[-1]
        raise _Failed(
            ApplyFailure(
                file=migration.filename,
                version=migration.version,
                statement=where.number,
                line=where.line,
                message=(
                    f"the transaction opened at line {where.line} is never committed: the "
                    "CLI would run the rest of the deployment inside it and lose all of it "
                    "when it disconnects"
                ),
                kind=Kind.TRANSACTION_LEFT_OPEN,
                advice="end the file with COMMIT; (or remove its BEGIN;)",
                statement_text=where.text[:2000],
            )
        )
    if record_history:
        _insert_history(conn, migration)
