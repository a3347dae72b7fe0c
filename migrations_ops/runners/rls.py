"""Job ``rls``: run the project's database tests, as ``supabase test db`` runs them.

Promise: runs only in a scratch database, dropped afterwards whatever happens; no
target is touched.

Both forms Supabase projects use are run, from ``supabase/tests`` (``*.sql`` and
``*.pg``, recursively):

- pgTAP files (``select plan(3); select ok(...); select * from finish();``): the CLI
  enables pgTAP (``create extension if not exists pgtap with schema extensions``) and
  runs ``pg_prove --ext .pg --ext .sql -r supabase/tests`` (supabase/cli
  ``internal/db/test/test.go``). pg_prove runs each file with ``psql --no-psqlrc
  --no-align --quiet --pset pager=off --pset tuples_only=true --set ON_ERROR_STOP=1``;
  so does this job, reading the TAP itself (``migrations_ops.pg.tap``): one result per
  file and per assertion;
- plain SQL tests (``supabase/tests/rls/*.test.sql``) that fail by raising an error: the
  same psql run stops at the first error and reports its line.

ONE scratch database is prepared (fixtures, then every local migration, then the seed
files in ``options["seed_files"]``) and every test file runs in it, in name order,
because helper files (``00000-helpers.sql``...) define functions later files call. When
some migrations cannot be applied, the tests still run on what could be, and the report
says so. Supabase puts ``extensions`` on the database's ``search_path``; the scratch
database gets the same, so unqualified pgTAP calls resolve.

Options: ``seed_files`` (paths relative to the repository, or to supabase/),
``test_timeout`` (seconds per file, default 120), ``tests_dir`` (default
``supabase/tests``).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from migrations_ops.pg import psql as psql_runner
from migrations_ops.pg import scratch_setup, table_activity
from migrations_ops.pg.apply import apply_files
from migrations_ops.pg.tap import TapResult, parse_tap
from migrations_ops.runners.base import RunContext, RunnerError, RunResult

_PGTAP_CALL = re.compile(r"\b(?:no_)?plan\s*\(|\bfinish\s*\(", re.IGNORECASE)


def pgtap_install_hint(major: int) -> str:
    return (
        f"pgTAP is not installed on the scratch server (PostgreSQL {major}). Install it: on "
        f"Debian/Ubuntu `apt-get install postgresql-{major}-pgtap` for the system server; "
        "the embedded PostgreSQL from the wheel has no pgTAP, so point "
        "SCRATCH_DATABASE_URL at a server that has it"
    )


def find_test_files(tests_dir: Path) -> list[Path]:
    """``*.sql`` and ``*.pg`` files under ``tests_dir``, in name order (pg_prove -r)."""
    if not tests_dir.is_dir():
        raise RunnerError(f"no tests folder at {tests_dir}: add database tests there")
    files = [p for p in tests_dir.rglob("*") if p.is_file() and p.suffix in (".sql", ".pg")]
    return sorted(files, key=lambda p: p.relative_to(tests_dir).as_posix())


def run(ctx: RunContext) -> RunResult:
    if ctx.supabase_dir is None:
        raise RunnerError("no supabase folder given: the rls job runs supabase/tests")
    tests_dir = ctx.supabase_dir / ctx.options.get("tests_dir", "tests")
    files = find_test_files(tests_dir)
    # Fixture and seed files often live under supabase/tests/ too; they are loaded before
    # the tests (once), not run again as tests.
    loaded = {p.resolve() for p in ctx.fixtures}
    base = ctx.repo_dir or ctx.supabase_dir.parent
    loaded |= {(base / s).resolve() for s in ctx.options.get("seed_files", [])}
    skipped = [f for f in files if f.resolve() in loaded]
    files = [f for f in files if f.resolve() not in loaded]
    if not files:
        raise RunnerError(f"no test files (*.sql, *.pg) under {tests_dir}")
    migrations = scratch_setup.local_migrations(ctx.supabase_dir)
    with ctx.scratch_database("rls") as url:
        major = scratch_setup.load_project_fixtures(ctx, url)
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            notes: list[str] = [
                f"{f.relative_to(tests_dir).as_posix()} is a fixture or seed file: loaded "
                "first, not run as a test"
                for f in skipped
            ]
            applied = apply_files(
                conn, migrations, log=ctx.log, stop_on_error=False, checkpoint=ctx.check_cancelled
            )
            if not applied.ok:
                failures = applied.failures
                notes.append(
                    f"{len(failures)} migration(s) could not be applied (first: "
                    f"{failures[0].describe()}); the tests ran on what could be applied"
                )
            notes += scratch_setup.load_seeds(ctx, url, major)
            pgtap = _enable_pgtap(conn, files, major, notes)
            # Which tables the tests read and wrote: the access matrix shows it per cell.
            exposed = list(ctx.options.get("exposed_schemas", ["public"]))
            before = table_activity.snapshot(conn, exposed, wait=0)
            results = _run_tests(ctx, url, major, tests_dir, files, pgtap)
            exercised = table_activity.touched(before, table_activity.snapshot(conn, exposed))
    failed = [r for r in results if not r["ok"]]
    data: dict[str, Any] = {
        "notes": notes,
        "pgtap": pgtap,
        "migrations": applied.as_dict(),
        "files": results,
        "exercised": {
            "tables": exercised,
            "schemas": exposed,
            "method": "PostgreSQL's table statistics (pg_stat_user_tables) before and after "
            "the tests: per table and operation, not per role",
        },
        "seconds": ctx.seconds(),
    }
    if failed:
        summary = f"{len(failed)} of {len(results)} test file(s) failed: " + "; ".join(
            r["problem"] for r in failed[:3]
        )
    else:
        summary = f"{len(results)} test file(s) passed ({_counts(results)})"
    if not applied.ok:
        summary += f"; {len(applied.failures)} migration(s) could not be applied"
    return RunResult(ok=not failed and applied.ok, summary=summary, data=data)


def _counts(results: list[dict[str, Any]]) -> str:
    """What the passing files were: "2 pgTAP file(s), 7 of 7 assertion(s) passed; 1 plain
    SQL file(s) ran without an error": every count a file table shows too."""
    tap = [r for r in results if r["kind"] == "pgtap"]
    plain = len(results) - len(tap)
    passed = sum(r["assertions_passed"] for r in tap)
    total = passed + sum(r["assertions_failed"] for r in tap)
    parts = []
    if tap:
        parts.append(f"{len(tap)} pgTAP file(s), {passed} of {total} assertion(s) passed")
    if plain:
        parts.append(f"{plain} plain SQL file(s) ran without an error")
    return "; ".join(parts)


def _enable_pgtap(
    conn: psycopg.Connection, files: list[Path], major: int, notes: list[str]
) -> bool:
    """Enable pgTAP like ``supabase test db``; False (with a note) when the server lacks it."""
    available = conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'pgtap'"
    ).fetchone()
    if not available:
        if any(_PGTAP_CALL.search(p.read_text(errors="replace")) for p in files):
            notes.append(pgtap_install_hint(major))
        return False
    conn.execute("CREATE SCHEMA IF NOT EXISTS extensions")
    conn.execute("CREATE EXTENSION IF NOT EXISTS pgtap WITH SCHEMA extensions")
    database = conn.info.dbname
    conn.execute(
        sql.SQL('ALTER DATABASE {} SET search_path = "$user", public, extensions').format(
            sql.Identifier(database)
        )
    )
    return True


def _run_tests(
    ctx: RunContext, url: str, major: int, tests_dir: Path, files: list[Path], pgtap: bool
) -> list[dict[str, Any]]:
    tool = psql_runner.psql_for(major)
    timeout = float(ctx.options.get("test_timeout", 120))
    results = []
    for path in files:
        ctx.check_cancelled()
        name = path.relative_to(tests_dir).as_posix()
        ctx.info(f"Running {name}...")
        started = time.monotonic()
        run = psql_runner.run_file(
            url=url, path=path, psql=tool, sandbox=ctx.require_sandbox(), tap=True,
            timeout=timeout,
        )  # fmt: skip
        tap = parse_tap(run.stdout)
        error = run.first_error
        problem = _problem(name, error, tap)
        needs_pgtap = error is not None and not pgtap and "does not exist" in error.message
        if needs_pgtap and _PGTAP_CALL.search(path.read_text(errors="replace")):
            problem = f"{problem} ({pgtap_install_hint(major)})"
        results.append(
            {
                "file": name,
                "kind": "pgtap" if tap.is_tap else "sql",
                "ok": problem is None,
                "problem": problem,
                "seconds": round(time.monotonic() - started, 3),
                "error": {"line": error.line, "message": error.message} if error else None,
                **tap.as_dict(),
                # The file's verdict: a plain SQL file passes by running without an error
                # (it has no TAP, so TAP's own "passed" would say no beside "ok").
                "passed": problem is None,
                "assertions_passed": sum(1 for a in tap.assertions if a.passed),
                "assertions_failed": len(tap.failed),
            }
        )
        ctx.log("info" if problem is None else "error", problem or f"ok {name}")
    return results


def _problem(name: str, error: psql_runner.PsqlMessage | None, tap: TapResult) -> str | None:
    """What failed in one test file, in one line; None when it passed."""
    if error is not None:
        where = f"{name} line {error.line}" if error.line else name
        return f"{where}: {error.message}"
    if not tap.is_tap or tap.passed:
        return None
    if tap.bail_out:
        return f"{name}: bailed out: {tap.bail_out}"
    if tap.failed:
        first = tap.failed[0]
        return f"{name}: not ok {first.number} - {first.description}"
    return f"{name}: {tap.plan_problem or 'failed'}"
