"""What applying migrations produced: per-file results, and failures a person can act on.

A failure is either an error in the migration, or an *environment gap*: the database it
ran on lacks something the real target has (an extension, a role, Supabase's ``auth``
schema...). The dry run builds its copy of staging on a scratch server, so gaps there
usually mean a fixture is missing, not that the migration is wrong.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import psycopg

from migrations_ops.pg.sqlsplit import Statement

# Schemas Supabase creates and manages; a migration that references them fails on a
# plain PostgreSQL unless the project's fixtures create stand-ins.
SUPABASE_SCHEMAS = frozenset(
    {
        "auth",
        "storage",
        "extensions",
        "realtime",
        "_realtime",
        "vault",
        "graphql",
        "graphql_public",
        "net",
        "pgsodium",
        "pgsodium_masks",
        "supabase_functions",
        "cron",
        "pgbouncer",
        "pgtle",
        "_analytics",
    }
)


class Kind:
    MIGRATION_ERROR = "migration_error"
    ENVIRONMENT_GAP = "environment_gap"
    CANNOT_RUN_IN_TRANSACTION = "cannot_run_in_transaction"
    LOCK_TIMEOUT = "lock_timeout"
    TIMEOUT = "timeout"
    TRANSACTION_LEFT_OPEN = "transaction_left_open"
    # The object is on the target but not in the dry run's copy of it: the copy's fault.
    COPY_GAP = "copy_gap"


@dataclass(kw_only=True)
class ApplyFailure:
    """The first thing that failed in one migration file."""

    file: str
    version: str
    statement: int | None  # 1-based; None when the history insert or the session setup failed
    line: int | None  # line in the file
    # PostgreSQL's 1-based error position inside the statement, and its SQLSTATE: None for
    # a failure the portal finds itself (a transaction left open), not PostgreSQL.
    position: int | None = None
    sqlstate: str | None = None
    message: str
    kind: str  # one of Kind
    advice: str  # what to do about it
    detail: str | None = None
    hint: str | None = None
    context: str | None = None
    statement_text: str = ""  # the statement (first 2,000 characters)

    @property
    def environment_gap(self) -> bool:
        return self.kind == Kind.ENVIRONMENT_GAP

    def describe(self) -> str:
        """One line: where, what, SQLSTATE."""
        where = self.file
        if self.line is not None:
            where += f" line {self.line}"
        if self.statement is not None:
            where += f" (statement {self.statement})"
        code = f" [SQLSTATE {self.sqlstate}]" if self.sqlstate else ""
        gap = " (environment gap)" if self.environment_gap else ""
        if self.kind == Kind.COPY_GAP:
            gap = " (copy gap: it exists on the target)"
        return f"{where}: {self.message}{code}{gap}"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["environment_gap"] = self.environment_gap
        data["description"] = self.describe()
        return data


_QUOTED = re.compile(r'"([^"]+)"')
_FUNCTION = re.compile(r"^function ([^\s(]+)\(")
_INLINE_BLOCK_LINE = re.compile(r"inline_code_block line (\d+)")
_DOLLAR_OPEN = re.compile(r"\$(?:[A-Za-z_][A-Za-z_0-9]*)?\$")


def object_name(message: str) -> str:
    """The object an error message is about: its first quoted name, or the function."""
    found = _QUOTED.search(message) or _FUNCTION.search(message)
    return found.group(1) if found else ""


def classify(sqlstate: str | None, message: str) -> tuple[str, str]:
    """``(kind, advice)`` for an error, judged by its SQLSTATE and message."""
    msg = message.lower()
    if sqlstate == "58P01" or (sqlstate == "0A000" and "extension" in msg and "available" in msg):
        return Kind.ENVIRONMENT_GAP, (
            "the extension is not installed on this server; install its package on the "
            "scratch server (or enable it on the target), or create it in a fixture"
        )
    if sqlstate == "42704" and msg.startswith("role "):
        return Kind.ENVIRONMENT_GAP, (
            "the role does not exist on this server; create it in a fixture (roles belong "
            "to the whole server, so write it idempotently)"
        )
    name = object_name(message)
    schema = name.split(".", 1)[0] if "." in name else None
    if sqlstate == "3F000" and name in SUPABASE_SCHEMAS:
        return Kind.ENVIRONMENT_GAP, (
            f"schema {name} is created by Supabase, not by the migrations; add a fixture "
            "that creates the parts the migrations use"
        )
    if sqlstate in ("42P01", "42883", "42704") and schema in SUPABASE_SCHEMAS:
        return Kind.ENVIRONMENT_GAP, (
            f"{name} belongs to Supabase's {schema} schema; add a fixture that creates it "
            "on the scratch server"
        )
    if sqlstate in ("42704", "42883") and name and schema is None:
        # The CLI prints a similar hint for 42704 (legacyFormatExecBatchError).
        what = "type" if msg.startswith("type ") else "function"
        return Kind.MIGRATION_ERROR, (
            f"this {what} may live in a schema that is not on the search_path (Supabase "
            f"keeps extensions in the extensions schema): schema-qualify it, e.g. "
            f"extensions.{name}, or enable the extension that provides it"
        )
    if sqlstate == "25001":
        return Kind.CANNOT_RUN_IN_TRANSACTION, (
            "this statement cannot run inside a transaction block, and the Supabase CLI "
            "runs each migration file in one transaction. CLI versions before 2.109 fail "
            "here the same way; later ones run it outside the file's transaction, which "
            "commits the statements before it separately. Put it in a migration file of "
            "its own"
        )
    if sqlstate == "55P03":
        return Kind.LOCK_TIMEOUT, (
            "another session holds a lock this statement needs and did not release it "
            "within lock_timeout; look for long-running transactions on the database "
            "(pg_stat_activity) and retry, or raise lock_timeout"
        )
    if sqlstate == "57014":
        return Kind.TIMEOUT, "the statement was cancelled (statement_timeout or a cancel request)"
    return Kind.MIGRATION_ERROR, "fix the statement in the migration file and run again"


def _block_line(statement: Statement, context: str | None) -> int | None:
    """The file line of an error inside a ``DO`` block, from PL/pgSQL's context."""
    if not context:
        return None
    found = _INLINE_BLOCK_LINE.search(context)
    opening = _DOLLAR_OPEN.search(statement.text)
    if not found or not opening:
        return None
    body_line = statement.line + statement.text.count("\n", 0, opening.end())
    return body_line + int(found.group(1)) - 1


def failure_from_error(
    error: psycopg.Error, *, file: str, version: str, statement: Statement | None
) -> ApplyFailure:
    """Turn a PostgreSQL error raised by ``statement`` into an ApplyFailure.

    The line comes from PostgreSQL's error position when it gives one (mapped through
    the statement's first line), from PL/pgSQL's context for ``DO`` blocks, else it is
    the statement's first line.
    """
    diag = error.diag
    message = diag.message_primary or str(error).strip().splitlines()[0]
    kind, advice = classify(error.sqlstate, message)
    line = None
    position = int(diag.statement_position) if diag.statement_position else None
    if statement is not None:
        if position:
            line = statement.line_at(position)
        else:
            line = _block_line(statement, diag.context) or statement.line
    return ApplyFailure(
        file=file,
        version=version,
        statement=statement.number if statement else None,
        line=line,
        position=position,
        sqlstate=error.sqlstate,
        message=message,
        kind=kind,
        advice=advice,
        detail=diag.message_detail,
        hint=diag.message_hint,
        context=diag.context,
        statement_text=statement.text[:2000] if statement else "",
    )


@dataclass
class FileResult:
    filename: str
    version: str
    ok: bool
    seconds: float
    statements: int
    mode: Literal["transaction", "own_transactions", "no_transaction"]
    failure: ApplyFailure | None = None
    notes: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "version": self.version,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "statements": self.statements,
            "mode": self.mode,
            "failure": self.failure.as_dict() if self.failure else None,
            "notes": self.notes,
            "notices": self.notices,
        }


@dataclass
class ApplyReport:
    files: list[FileResult] = field(default_factory=list)
    not_attempted: list[str] = field(default_factory=list)  # after a failure, in order

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.files) and not self.not_attempted

    @property
    def failures(self) -> list[ApplyFailure]:
        return [f.failure for f in self.files if f.failure]

    @property
    def first_failure(self) -> ApplyFailure | None:
        failures = self.failures
        return failures[0] if failures else None

    @property
    def applied(self) -> list[str]:
        return [f.filename for f in self.files if f.ok]

    def as_dict(self) -> dict[str, Any]:
        first = self.first_failure
        return {
            "ok": self.ok,
            "files": [f.as_dict() for f in self.files],
            "applied": self.applied,
            "not_attempted": self.not_attempted,
            "first_failure": first.as_dict() if first else None,
            "seconds": round(sum(f.seconds for f in self.files), 3),
        }
