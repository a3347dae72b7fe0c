"""Read a target (staging) without changing it, and copy its schema into a scratch database.

Reading: every query runs in a ``READ ONLY`` transaction (``open_target``), so a bug
here could not write even if it tried; ``pg_dump`` reads in a read-only transaction of
its own. Nothing is ``SET`` for the session: through a transaction-mode pooler a session
setting would outlive this job on a server connection other clients then use.

Copying: ``pg_dump --schema-only --no-owner --no-privileges`` of the chosen schemas (with
rows too when asked and small enough), by a pg_dump whose major version is at least the
target's, restored with the psql of the same installation (recent pg_dump writes
``\\restrict`` lines that older psql rejects). ``pg_dump --schema`` leaves extensions
out, so the target's extensions are created first where the scratch server has them.
Restore errors that only mean "the scratch server is older" (a ``SET`` of a setting it
does not know) or "already there" (``CREATE SCHEMA public``) are dropped; the others are
returned for the report.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from migrations_ops.pg import pgtools
from migrations_ops.pg import psql as psql_runner
from migrations_ops.pg.apply import create_history_table
from migrations_ops.pg.job_sandbox import JobSandbox
from migrations_ops.runners.base import LogFn, RunnerError, connect_target

HistoryRow = tuple[str, str | None, list[str] | None]
_HARMLESS = (
    re.compile(r"unrecognized configuration parameter"),
    re.compile(r'^schema "[^"]+" already exists'),
    re.compile(r"^extension \"[^\"]+\" already exists"),
)


_SESSION_DEFAULTS = """
SELECT s.setconfig FROM pg_db_role_setting s
WHERE (s.setrole = 0
       AND s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()))
   OR (s.setrole = (SELECT oid FROM pg_roles WHERE rolname = current_user)
       AND s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database())))
ORDER BY s.setrole <> 0, s.setdatabase <> 0
"""


@dataclass
class TargetState:
    """What the dry run and the drift check need to know about the target."""

    server_version: str
    major: int
    history: list[HistoryRow]
    has_history_table: bool
    extensions: list[tuple[str, str]]  # (name, schema)
    data_bytes: int  # size of the tables in the chosen schemas
    schemas_present: list[str]  # which of the chosen schemas exist there
    # Every schema on the target but PostgreSQL's own (pg_*, information_schema).
    all_schemas: list[str] = field(default_factory=list)
    # ALTER DATABASE / ALTER ROLE ... SET defaults a session on the target starts with
    # ("search_path=...", database-wide first, then the role's): RESET ALL returns to them.
    settings: list[str] = field(default_factory=list)

    @property
    def applied_versions(self) -> list[str]:
        return [version for version, _, _ in self.history]


def open_target(url: str | None, name: str, *, variable: str = "") -> psycopg.Connection:
    """A connection to the target whose every transaction is READ ONLY (``variable``: the
    environment variable its URL comes from, named when it is unset)."""
    conn = connect_target(url, name, autocommit=False, variable=variable)
    conn.read_only = True
    return conn


def read_target(conn: psycopg.Connection, *, schemas: Sequence[str]) -> TargetState:
    """Read version, migration history, extensions and data size; changes nothing.

    ``conn`` comes from ``open_target``; the read-only transaction is closed at the end.
    """
    try:
        return _read_target(conn, schemas)
    finally:
        conn.rollback()


def _read_target(conn: psycopg.Connection, schemas: Sequence[str]) -> TargetState:
    has_history = bool(
        conn.execute(
            "SELECT to_regclass('supabase_migrations.schema_migrations') IS NOT NULL"
        ).fetchone()[0]  # type: ignore[index]
    )
    history: list[HistoryRow] = []
    if has_history:
        columns = {
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'supabase_migrations' AND table_name = 'schema_migrations'"
            ).fetchall()
        }
        name = "name" if "name" in columns else "NULL::text"
        statements = "statements" if "statements" in columns else "NULL::text[]"
        history = [
            (r[0], r[1], r[2])
            for r in conn.execute(
                f"SELECT version, {name}, {statements} "  # noqa: S608 (column names from a fixed set)
                "FROM supabase_migrations.schema_migrations ORDER BY version"
            ).fetchall()
        ]
    extensions = [
        (r[0], r[1])
        for r in conn.execute(
            "SELECT e.extname, n.nspname FROM pg_extension e "
            "JOIN pg_namespace n ON n.oid = e.extnamespace ORDER BY 1"
        ).fetchall()
    ]
    size = conn.execute(
        "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p', 'm')",
        [list(schemas)],
    ).fetchone()
    present = [
        r[0]
        for r in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s) ORDER BY 1", [list(schemas)]
        ).fetchall()
    ]
    settings = [
        item for (config,) in conn.execute(_SESSION_DEFAULTS).fetchall() for item in (config or [])
    ]
    every = [
        r[0]
        for r in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname !~ '^pg_' "
            "AND nspname <> 'information_schema' ORDER BY 1"
        ).fetchall()
    ]
    return TargetState(
        settings=settings,
        all_schemas=every,
        schemas_present=present,
        server_version=conn.info.parameter_status("server_version") or "",
        major=conn.info.server_version // 10000,
        history=history,
        has_history_table=has_history,
        extensions=extensions,
        data_bytes=int(size[0]) if size else 0,
    )


@dataclass
class CopyResult:
    pg_dump: str  # path and version of the pg_dump used
    with_data: bool
    errors: list[str] = field(default_factory=list)  # restore errors worth reporting

    def as_dict(self) -> dict[str, Any]:
        return {"pg_dump": self.pg_dump, "with_data": self.with_data, "errors": self.errors}


def copy_schema(
    *,
    source_url: str,
    source_major: int,
    target_url: str,
    schemas: Sequence[str],
    with_data: bool,
    log: LogFn,
    sandbox: JobSandbox,
    timeout: float = 600,
    privileges: bool = False,
) -> CopyResult:
    """Dump ``schemas`` from the source and restore them into the (scratch) target.

    pg_dump reads the source on the worker, into a file in the job's folder; psql
    restores it in the sandbox (the dump holds what the target's migrations made).
    ``privileges`` keeps the GRANTs (the access job needs them; grants to roles the
    scratch server lacks fail and are reported)."""
    try:
        pg_dump = pgtools.find_tool("pg_dump", source_major)
    except pgtools.ToolNotFound as e:
        raise RunnerError(str(e)) from None
    psql = _psql_beside(pg_dump)
    env = pgtools.libpq_env(source_url)
    args = [pg_dump.path, "--no-owner", "--format=plain"]
    if not privileges:
        args.append("--no-privileges")
    if not with_data:
        args.append("--schema-only")
    for schema in schemas:
        args += ["--schema", schema]
    kind = "schema and data" if with_data else "schema"
    log(
        "info", f"Copying the target's {kind} ({', '.join(schemas)}) with pg_dump {pg_dump.version}"
    )
    dump = sandbox.new_file(f"dumps/target-{uuid.uuid4().hex[:8]}.sql")
    try:
        try:
            done = subprocess.run(
                [*args, "--file", str(dump)],
                env=env,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise RunnerError(
                f"pg_dump of the target did not finish within {timeout:.0f} s"
            ) from None
        if done.returncode != 0:
            reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no output"
            raise RunnerError(f"pg_dump of the target failed: {reason}")
        dump.chmod(0o644)
        run = psql_runner.run_file(
            url=target_url, path=dump, psql=psql, sandbox=sandbox, timeout=timeout,
            on_error_stop=False,
        )  # fmt: skip
    finally:
        dump.unlink(missing_ok=True)
    errors = [
        m.message for m in run.errors if not any(pattern.search(m.message) for pattern in _HARMLESS)
    ]
    return CopyResult(pg_dump=f"{pg_dump.path} ({pg_dump.version})", with_data=with_data,
                      errors=errors)  # fmt: skip


def _psql_beside(pg_dump: pgtools.Tool) -> pgtools.Tool:
    """The psql of the same installation as ``pg_dump``."""
    candidate = Path(pg_dump.path).with_name("psql")
    if candidate.exists():
        return pgtools.Tool(str(candidate), pg_dump.major, pg_dump.version)
    return pgtools.find_tool("psql", pg_dump.major)


def copy_history(conn: psycopg.Connection, history: Sequence[HistoryRow]) -> None:
    """Recreate the CLI's history table in the scratch database with the target's rows."""
    create_history_table(conn)
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO supabase_migrations.schema_migrations(version, name, statements) "
            "VALUES (%s, %s, %s)",
            list(history),
        )


def copy_session_defaults(conn: psycopg.Connection, settings: Sequence[str]) -> list[str]:
    """Make the target's session defaults the scratch database's; returns what failed.

    Supabase puts ``extensions`` on the search_path this way, and migrations that call
    ``uuid_generate_v4()`` unqualified rely on it. Values are set as the server parses
    them (``set_config``) and stored with ``ALTER DATABASE ... SET ... FROM CURRENT``.
    New sessions see them; open ones do not.

    A custom setting (``app.settings.jwt_secret``: a dotted name, no setting of
    PostgreSQL's own) is where Supabase and apps keep secrets: bundle content runs in the
    scratch database and may print whatever it reads, so such a setting is made there
    with an empty value, and said among what could not be copied.
    """
    failed = []
    database = sql.Identifier(conn.info.dbname)
    for item in settings:
        name, _, value = item.partition("=")
        if "." in name:
            failed.append(f"{name}: its value stays outside the sandbox (set empty)")
            value = ""
        target = sql.SQL(".").join(sql.Identifier(part) for part in name.split("."))
        try:
            with conn.transaction():
                conn.execute("SELECT set_config(%s, %s, false)", [name, value])
                conn.execute(
                    sql.SQL("ALTER DATABASE {} SET {} FROM CURRENT").format(database, target)
                )
        except psycopg.Error as e:
            failed.append(f"{name}: {e.diag.message_primary or e}")
    return failed


# What an undefined-object error names, and how to ask the target whether it has it.
_EXISTS = {
    "3F000": "SELECT to_regnamespace(%s) IS NOT NULL",
    "42P01": "SELECT to_regclass(%s) IS NOT NULL",
    "42704": "SELECT to_regtype(%s) IS NOT NULL",
    "42883": "SELECT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n "
    "ON n.oid = p.pronamespace WHERE n.nspname || '.' || p.proname = %s OR p.proname = %s)",
}


def target_has(conn: psycopg.Connection, sqlstate: str | None, name: str) -> bool:
    """Whether the target holds the object an undefined-object error (``sqlstate``) named:
    then its absence in a copy is the copy's gap, not the migration's fault."""
    query = _EXISTS.get(sqlstate or "")
    if not query or not name:
        return False
    params = [name, name] if sqlstate == "42883" else [name]
    try:
        row = conn.execute(query, params).fetchone()
    except psycopg.Error:
        conn.rollback()
        return False
    finally:
        if not conn.autocommit:
            conn.rollback()
    return bool(row and row[0])
