"""Filling a scratch database for the database jobs: fixtures, migrations, seed files.

Fixtures (ctx.fixtures) are SQL files that give a plain PostgreSQL what Supabase would
have: the ``anon``/``authenticated``/``service_role`` roles, an ``auth`` schema with
``auth.users`` and ``auth.uid()``... They run with psql (``ON_ERROR_STOP=1``) before
anything else.

Roles are not inside a database: they belong to the whole server, so every scratch
database on it shares them, and jobs run side by side. Two rules follow:

- fixture files must be idempotent, e.g.
  ``DO $$ BEGIN CREATE ROLE anon NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL;
  END $$;`` (a second job finds the role already there);
- fixtures are loaded one job at a time per server: ``load_fixtures`` holds a
  server-wide advisory lock while it runs them, because two ``CREATE ROLE`` of the same
  name racing each other fail with a unique violation no ``IF NOT EXISTS`` check avoids.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import psycopg
from psycopg import sql

from migrations_ops.pg import psql as psql_runner
from migrations_ops.pg.apply import MigrationFile
from migrations_ops.pg.job_sandbox import JobSandbox
from migrations_ops.pg.supabase_files import MigrationsFolderMissing, list_local_migrations
from migrations_ops.runners.base import LogFn, RunContext, RunnerError

# pg_advisory_lock key for "loading fixtures on this server" ("rpfx").
FIXTURE_LOCK_KEY = 0x72706678
FIXTURE_LOCK_WAIT = "300s"


def _local_migration_paths(supabase_dir: Path) -> list[Path]:
    """The files the CLI would apply, in its order (supabase_files has its rules)."""
    folder = supabase_dir / "migrations"
    try:
        files, _skipped = list_local_migrations(folder)
    except MigrationsFolderMissing:
        raise RunnerError(
            f"no migrations folder at {folder}: point --supabase-dir (or the project's "
            "supabase folder setting) at the folder that holds migrations/"
        ) from None
    return [f.path for f in files]


def local_migrations(supabase_dir: Path | None) -> list[MigrationFile]:
    """The project's migration files, in version order, read and split."""
    if supabase_dir is None:
        raise RunnerError("no supabase folder given: this job needs the project's migrations")
    try:
        return [MigrationFile.from_path(p) for p in _local_migration_paths(supabase_dir)]
    except ValueError as e:
        raise RunnerError(str(e)) from None


def resolve(paths: Sequence[Path | str], base: Path | None) -> list[Path]:
    """Paths as given; a relative one is looked up in ``base`` (the repository), then here."""
    out = []
    for item in paths:
        path = Path(item)
        candidates = [path] if path.is_absolute() else [base / path] if base else []
        if not path.is_absolute():
            candidates.append(Path.cwd() / path)
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise RunnerError(
                f"file not found: {item} (relative paths are taken from the repository root)"
            )
        out.append(found)
    return out


def server_major(conn: psycopg.Connection) -> int:
    return conn.info.server_version // 10000


def version_note(
    *, target_name: str, target_version: str, target_major: int, major: int
) -> str | None:
    """A warning when the scratch server's major version is not the target's."""
    if target_major == major:
        return None
    return (
        f"the scratch server runs PostgreSQL {major} but {target_name} runs "
        f"{target_version}: what depends on the server version (syntax, defaults, how "
        "definitions read back) may differ for real"
    )


def run_sql_files(
    *,
    url: str,
    files: Sequence[Path],
    major: int,
    log: LogFn,
    what: str,
    sandbox: JobSandbox,
    timeout: float = 300,
) -> None:
    """Run each file with psql (ON_ERROR_STOP) in the sandbox; RunnerError at the first error."""
    if not files:
        return
    tool = psql_runner.psql_for(major)
    for path in files:
        log("info", f"Loading {what} {path.name}...")
        run = psql_runner.run_file(url=url, path=path, psql=tool, sandbox=sandbox, timeout=timeout)
        error = run.first_error
        if error is not None:
            raise RunnerError(
                f"{what} {path} failed at line {error.line}: {error.message}. Fix the file; "
                "it must also be safe to run again (roles are shared by the whole server)."
            )


def load_fixtures(
    *,
    url: str,
    server_url: str,
    fixtures: Sequence[Path],
    major: int,
    log: LogFn,
    sandbox: JobSandbox,
) -> None:
    """Run the fixture files in the scratch database at ``url``, one job per server at a time."""
    if not fixtures:
        return
    with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as lock:
        lock.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(FIXTURE_LOCK_WAIT)))
        try:
            lock.execute("SELECT pg_advisory_lock(%s)", [FIXTURE_LOCK_KEY])
        except psycopg.errors.LockNotAvailable:
            raise RunnerError(
                f"waited {FIXTURE_LOCK_WAIT} for another job to finish loading fixtures on "
                "the scratch server; is one stuck? (pg_locks, locktype advisory)"
            ) from None
        try:
            run_sql_files(
                url=url, files=fixtures, major=major, log=log, what="fixture", sandbox=sandbox
            )
        finally:
            lock.execute("SELECT pg_advisory_unlock(%s)", [FIXTURE_LOCK_KEY])


def create_extensions(conn: psycopg.Connection, extensions: Sequence[tuple[str, str]]) -> list[str]:
    """Create ``(name, schema)`` extensions if the server has them; returns what it lacks."""
    missing = []
    for name, schema in extensions:
        if name == "plpgsql":
            continue
        try:
            with conn.transaction():
                conn.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
                )
                conn.execute(
                    sql.SQL("CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA {} CASCADE").format(
                        sql.Identifier(name), sql.Identifier(schema)
                    )
                )
        except psycopg.Error as e:
            reason = e.diag.message_primary or str(e)
            missing.append(f"extension {name} ({schema}): {reason}")
    return missing


def load_seeds(ctx: RunContext, url: str, major: int) -> list[str]:
    """Run the project's seed files (``options["seed_files"]``); notes on those that failed."""
    notes = []
    tool = psql_runner.psql_for(major)
    for item in ctx.options.get("seed_files", []):
        path = _find_seed(ctx, item)
        ctx.info(f"Loading seed {path.name}...")
        run = psql_runner.run_file(url=url, path=path, psql=tool, sandbox=ctx.require_sandbox())
        if run.first_error:
            notes.append(f"seed {item} failed: {run.first_error.describe()}")
    return notes


def _find_seed(ctx: RunContext, item: str) -> Path:
    candidates = [Path(item)] if Path(item).is_absolute() else []
    candidates += [base / item for base in (ctx.repo_dir, ctx.supabase_dir) if base is not None]
    for path in candidates:
        if path.is_file():
            return path
    raise RunnerError(f"seed file {item} not found (looked in the repository and supabase/)")


def load_project_fixtures(ctx: RunContext, url: str) -> int:
    """Load ctx.fixtures into the scratch database at ``url``; returns its server's major.

    Open the connection that applies migrations after this: a fixture may set database
    defaults (``ALTER DATABASE ... SET search_path``) that only new sessions see.
    """
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        major = server_major(conn)
    fixtures = resolve(ctx.fixtures, ctx.repo_dir)
    load_fixtures(url=url, server_url=ctx.scratch_server(), fixtures=fixtures, major=major,
                  log=ctx.log, sandbox=ctx.require_sandbox())  # fmt: skip
    ctx.check_cancelled()
    return major
