"""Benchmark: the dry_run runner against pg_dump + restore + psql per file done by hand.

    .venv/bin/python tests/bench/bench_dry_run.py [--rounds 5] [--tables 30] [--warmup 1]

Builds a "staging" database on the PostgreSQL the tests use (tests/services.py decides):
the Supabase roles and ``auth`` schema of a role fixture, then three applied migration
files (schema ``app`` with ``--tables`` tables, their indexes, RLS policies, a trigger
function and triggers, helper functions, a view, ``public.profiles``) recorded in
``supabase_migrations.schema_migrations``; and, in a temporary ``supabase/migrations``
folder, five pending files (columns, an index, a policy, a function, an enum type).
Then, side by side in one run and alternating the order each round, times:

- ours: ``dry_run.run(ctx)`` in a new job sandbox, as a worker runs it (open the
  sandbox, read staging, start the sandbox's own PostgreSQL cluster, scratch database,
  fixtures, pg_dump of ``app`` and ``public`` on the worker, restore with psql in the
  sandbox, history, catalog snapshots, apply the pending files as the Supabase CLI does,
  drop, stop the sandbox);
- raw: the same tools by hand: ``pg_dump --schema-only`` of the same schemas with the
  same pg_dump, a scratch database, the role fixture (the dump needs ``auth.uid()``) and
  the dump loaded with the same psql, ``psql --single-transaction -v ON_ERROR_STOP=1 -f``
  per pending file, drop.

After ``--warmup`` untimed rounds (default 1: tool lookups, caches), prints the median
and the best of each and their ratio (runner / raw; the best is the steadier figure on a
busy machine), then where the time goes, step by step (timed by thin wrappers around
the runner's functions and around subprocess.run), and drops every database it made,
even on error. Not a test: speed lives here, not in assertions.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

import tests.services  # noqa: E402,F401  (the tests' DATABASE_URL and settings environment)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "release_portal.settings")

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402

from migrations_ops.pg import apply, catalog, pgtools, scratch, scratch_setup, staging_copy  # noqa: E402
from migrations_ops.pg.apply import MigrationFile, apply_files  # noqa: E402
from migrations_ops.pg.job_sandbox import open_sandbox  # noqa: E402
from migrations_ops.pg.sandbox import Sandbox  # noqa: E402
from migrations_ops.runners import dry_run, target_copy  # noqa: E402
from migrations_ops.runners.base import RunContext  # noqa: E402
from tests.bench.common import report  # noqa: E402

ROLES = ROOT / "migrations_ops" / "demo_supabase" / "tests" / "fixtures" / "roles.sql"
FIXTURE = "supabase/tests/fixtures/roles.sql"  # relative to the project, as configured


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _quiet(stream: str, text: str) -> None:
    if stream == "error":
        sys.stderr.write(text + "\n")


# --- the project: three applied migrations, five pending ones ------------------------


def _create_app(tables: int) -> str:
    parts = ["create schema app;\n"]
    for i in range(1, tables + 1):
        t = f"t{i:02d}"
        parent = f"  parent_id bigint references app.t{i - 1:02d} (id) on delete cascade,\n"
        parts.append(
            f"create table app.{t} (\n"
            "  id bigint generated always as identity primary key,\n"
            "  owner uuid not null default auth.uid(),\n"
            f"{parent if i > 1 else ''}"
            "  name text not null,\n"
            "  body jsonb not null default '{}'::jsonb,\n"
            "  amount numeric(12, 2) check (amount >= 0),\n"
            "  created_at timestamptz not null default now(),\n"
            "  updated_at timestamptz not null default now()\n"
            ");\n"
            f"create index {t}_owner_idx on app.{t} (owner);\n"
            f"create index {t}_created_idx on app.{t} (created_at desc);\n"
            f"alter table app.{t} enable row level security;\n"
            f'create policy "{t} owner reads" on app.{t} for select to authenticated\n'
            "  using (owner = auth.uid());\n"
            f'create policy "{t} owner writes" on app.{t} for all to authenticated\n'
            "  using (owner = auth.uid()) with check (owner = auth.uid());\n"
        )
    return "".join(parts)


def _functions(tables: int) -> str:
    parts = [
        "create or replace function app.touch_updated_at() returns trigger\n"
        "language plpgsql as $$\n"
        "begin\n"
        "  new.updated_at := now();\n"
        "  return new;\n"
        "end;\n"
        "$$;\n",
        "create or replace function app.owner_total(who uuid) returns numeric\n"
        "language sql stable as $$\n"
        "  select coalesce(sum(amount), 0) from app.t01 where owner = who\n"
        "$$;\n",
        "create or replace function app.is_owner(row_owner uuid) returns boolean\n"
        "language sql stable security definer set search_path = '' as $$\n"
        "  select row_owner = auth.uid()\n"
        "$$;\n",
    ]
    for i in range(1, tables + 1):
        parts.append(
            f"create trigger t{i:02d}_touch before update on app.t{i:02d}\n"
            "  for each row execute function app.touch_updated_at();\n"
        )
    return "".join(parts)


PROFILES = """\
create table public.profiles (
  id uuid primary key default gen_random_uuid(),
  owner uuid not null default auth.uid(),
  display_name text,
  created_at timestamptz not null default now()
);
alter table public.profiles enable row level security;
create policy "profiles are readable" on public.profiles for select to anon, authenticated
  using (true);
create policy "own profile" on public.profiles for update to authenticated
  using (owner = auth.uid());
create view app.recent as
  select id, owner, name, created_at from app.t01 where created_at > now() - interval '7 days';
"""


def _pending(tables: int) -> list[tuple[str, str, str]]:
    columns = "".join(
        f"alter table app.t{i:02d} add column archived_at timestamptz,\n"
        "  add column note text not null default '';\n"
        for i in range(1, min(5, tables) + 1)
    )
    last = f"t{tables:02d}"
    return [
        ("20250301000000", "add_columns", columns),
        ("20250302000000", "add_index",
         f"create index {last}_name_created_idx on app.{last} (name, created_at);\n"),
        ("20250303000000", "add_policy",
         f'create policy "{last} service reads" on app.{last} for select to service_role\n'
         "  using (true);\n"),
        ("20250304000000", "add_function",
         "create or replace function app.search_t01(q text) returns setof app.t01\n"
         "language sql stable as $$\n"
         "  select * from app.t01 where name ilike '%' || q || '%' order by created_at desc\n"
         "$$;\n"),
        ("20250305000000", "add_enum",
         "create type app.ticket_status as enum ('open', 'pending', 'closed');\n"
         "alter table app.t03 add column status app.ticket_status not null default 'open';\n"),
    ]  # fmt: skip


def _make_project(work: Path, tables: int) -> tuple[list[Path], list[Path]]:
    """The supabase/ folder: applied and pending migration files, the role fixture."""
    migrations = work / "supabase" / "migrations"
    migrations.mkdir(parents=True)
    (work / FIXTURE).parent.mkdir(parents=True)
    shutil.copyfile(ROLES, work / FIXTURE)
    applied = [
        ("20250101000000", "create_app", _create_app(tables)),
        ("20250115000000", "functions", _functions(tables)),
        ("20250201000000", "profiles", PROFILES),
    ]

    def write(items: list[tuple[str, str, str]]) -> list[Path]:
        paths = []
        for version, name, text in items:
            path = migrations / f"{version}_{name}.sql"
            path.write_text(text)
            paths.append(path)
        return paths

    return write(applied), write(_pending(tables))


def _build_staging(staging: str, server: str, applied: list[Path], fixture: Path) -> int:
    """Fixture, then the applied files with their history rows, as `supabase db push` did."""
    with psycopg.connect(staging, autocommit=True) as conn:
        major = conn.info.server_version // 10000
    # Staging is the bench's own target (trusted setup): its fixture is loaded directly.
    psql = pgtools.find_tool("psql", major)
    subprocess.run(
        [psql.path, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(fixture)],
        env=pgtools.libpq_env(staging), check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    with psycopg.connect(staging, autocommit=True) as conn:
        built = apply_files(conn, [MigrationFile.from_path(p) for p in applied], log=_quiet)
        assert built.ok, built.first_failure.describe() if built.first_failure else built
        conn.execute("VACUUM ANALYZE")
    return major


# --- timing each step ----------------------------------------------------------------


class Steps:
    """Seconds per step of the run being timed (``into``), from thin wrappers."""

    def __init__(self) -> None:
        self.into: dict[str, float] | None = None

    def add(self, label: str, seconds: float) -> None:
        if self.into is not None:
            self.into[label] = self.into.get(label, 0.0) + seconds

    def wrap(self, owner: Any, attr: str, label: str | Callable[..., str]) -> None:
        original = getattr(owner, attr)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                name = label(*args, **kwargs) if callable(label) else label
                self.add(name, time.perf_counter() - start)

        setattr(owner, attr, timed)


def _subprocess_label(args: Any, *_: Any, **__: Any) -> str:
    """Which step a pg_dump / psql call is, from its arguments."""
    argv = [str(a) for a in args]
    tool = Path(argv[0]).name
    if "--version" in argv:
        return "tool lookup"
    if tool == "pg_dump":
        return "pg_dump"
    files = [Path(argv[i + 1]) for i, a in enumerate(argv[:-1]) if a in ("-f", "--file")]
    path = files[0] if files else Path()
    if path.name == Path(FIXTURE).name:
        return "fixture (psql)"
    if path.name.endswith("dump.sql") or path.name.startswith("target"):
        return "restore (psql)"
    if path.parent.name == "migrations":
        return "apply pending"
    return f"{tool} other"


def _sandboxed_label(box: Any, argv: Any, *_: Any, **__: Any) -> str:
    return _subprocess_label(argv)


def _instrument(steps: Steps) -> None:
    steps.wrap(subprocess, "run", _subprocess_label)
    steps.wrap(Sandbox, "run", _sandboxed_label)
    steps.wrap(Sandbox, "_start_cluster", "sandbox cluster start")
    steps.wrap(scratch, "create_database", "create database")
    steps.wrap(scratch, "drop_database", "drop database")
    steps.wrap(scratch_setup, "local_migrations", "read + split local files")
    steps.wrap(target_copy, "read_target", "read staging")
    steps.wrap(scratch_setup, "load_project_fixtures", "fixtures (all)")
    for owner, attr in [(scratch_setup, "create_extensions"), (staging_copy, "copy_history"),
                        (staging_copy, "copy_session_defaults")]:  # fmt: skip
        steps.wrap(owner, attr, "extensions, history, defaults")
    steps.wrap(staging_copy, "copy_schema", "copy schema (all)")
    steps.wrap(catalog, "snapshot", "catalog snapshots (2)")
    steps.wrap(apply, "apply_files", "apply pending")  # through RunContext.apply_pending


# Steps that do not contain one another; "other" is the total minus these.
LEAF_STEPS = [
    "sandbox cluster start",
    "tool lookup",
    "pg_dump",
    "restore (psql)",
    "create database",
    "drop database",
    "fixture (psql)",
    "psql other",
    "read + split local files",
    "read staging",
    "extensions, history, defaults",
    "catalog snapshots (2)",
    "apply pending",
]


# Rows of the step table: (label, how to get it from a run's steps).
def _rows(pending: int) -> list[tuple[str, Callable[[dict[str, float]], float | None]]]:
    def get(label: str) -> Callable[[dict[str, float]], float | None]:
        return lambda s: s.get(label)

    def runner_only(label: str) -> Callable[[dict[str, float]], float | None]:
        return lambda s: s.get(label) if "read staging" in s else None

    def fixture_overhead(s: dict[str, float]) -> float | None:
        if "fixtures (all)" not in s:
            return None
        return s["fixtures (all)"] - s.get("fixture (psql)", 0.0)

    def other(s: dict[str, float]) -> float:
        spent = sum(s.get(k, 0.0) for k in LEAF_STEPS)
        spent += (fixture_overhead(s) or 0.0) + (copy_overhead(s) or 0.0)
        return s["total"] - spent

    def copy_overhead(s: dict[str, float]) -> float | None:
        if "copy schema (all)" not in s:
            return None
        return s["copy schema (all)"] - s.get("pg_dump", 0.0) - s.get("restore (psql)", 0.0)

    return [
        ("start the sandbox's cluster", runner_only("sandbox cluster start")),
        ("pg_dump --schema-only", get("pg_dump")),
        ("create scratch database", get("create database")),
        ("role fixture (psql)", get("fixture (psql)")),
        ("  fixture lock, connections", fixture_overhead),
        ("restore the dump (psql)", get("restore (psql)")),
        (f"apply {pending} files", get("apply pending")),
        ("drop scratch database", get("drop database")),
        ("read staging (history...)", runner_only("read staging")),
        ("read + split local files", runner_only("read + split local files")),
        ("extensions, history, defaults", runner_only("extensions, history, defaults")),
        ("catalog snapshots (2)", runner_only("catalog snapshots (2)")),
        ("other (connects, diff...)", other),
        ("total", get("total")),
    ]


# --- the two contenders --------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tables", type=int, default=30, help="tables in schema app")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    args = parser.parse_args()

    server = pgtools.scratch_server_url()
    work = Path(tempfile.mkdtemp(prefix="rp_bench_dry_run_"))
    created: list[str] = []
    dropped: list[str] = []
    raw_steps: list[dict[str, float]] = []
    our_steps: list[dict[str, float]] = []
    try:
        applied, pending = _make_project(work, args.tables)
        mine = {"server_url": server, "on_create": created.append, "on_drop": dropped.append}
        with scratch.scratch_database(purpose="bench_staging", **mine) as staging:
            _write(f"Building staging ({args.tables} tables in app, {len(applied)} applied, "
                   f"{len(pending)} pending migrations)...")  # fmt: skip
            server_major = _build_staging(staging, server, applied, work / FIXTURE)
            pg_dump = pgtools.find_tool("pg_dump", server_major)
            psql = pgtools.find_tool("psql", server_major)
            _write(f"server {server_major}; pg_dump {pg_dump.version} ({pg_dump.path}), "
                   f"psql {psql.version}")  # fmt: skip
            steps = Steps()
            _instrument(steps)
            ctx = RunContext(
                supabase_dir=work / "supabase",
                repo_dir=work,
                database_url=staging,
                target_name="staging",
                fixtures=[Path(FIXTURE)],
                log=_quiet,
                scratch_created=created.append,
                scratch_dropped=dropped.append,
            )
            src_env = pgtools.libpq_env(staging)
            first_errors: list[str] = []
            warmup = args.warmup

            def raw(n: int) -> None:
                dump = work / f"raw_{n}_dump.sql"
                subprocess.run(
                    [pg_dump.path, "--schema-only", "--no-owner", "--no-privileges",
                     "--schema=app", "--schema=public", "--no-password", f"--file={dump}"],
                    env=src_env, check=True, stdout=subprocess.DEVNULL,
                )  # fmt: skip
                with scratch.scratch_database(purpose="bench_raw", **mine) as url:
                    env = pgtools.libpq_env(url)
                    subprocess.run(
                        [psql.path, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(work / FIXTURE)],
                        env=env, check=True, stdout=subprocess.DEVNULL,
                    )  # fmt: skip
                    # As a person would run it: errors do not stop it (pg_dump 18 writes
                    # "SET transaction_timeout", which an older server rejects harmlessly).
                    done = subprocess.run(
                        [psql.path, "-X", "-q", "-f", str(dump)],
                        env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                        text=True,
                    )  # fmt: skip
                    errors = [ln for ln in done.stderr.splitlines() if "ERROR" in ln]
                    if n == -warmup and errors:
                        first_errors.extend(errors)
                    for path in pending:
                        subprocess.run(
                            [psql.path, "-X", "-q", "--single-transaction", "-v",
                             "ON_ERROR_STOP=1", "-f", str(path)],
                            env=env, check=True, stdout=subprocess.DEVNULL,
                        )  # fmt: skip
                dump.unlink()

            def ours(n: int) -> None:
                # A job's sandbox, opened and closed as the worker does for each job.
                with open_sandbox(purpose="bench") as box:
                    box.add_content(work)
                    ctx.sandbox = box
                    result = dry_run.run(ctx)
                assert result.ok, result.summary
                assert len(result.data["pending"]) == len(pending), result.data["pending"]
                if n == -warmup:
                    _write(f"  runner: {result.summary}")
                    for note in result.data["notes"]:
                        _write(f"  runner note: {note}")

            def timed(fn: Callable[[int], None], n: int, into: list[dict[str, float]]) -> float:
                steps.into = {}
                start = time.perf_counter()
                fn(n)
                steps.into["total"] = time.perf_counter() - start
                into.append(steps.into)
                steps.into = None
                return into[-1]["total"]

            for n in range(-args.warmup, args.rounds):
                pair = [("raw", raw, raw_steps), ("runner", ours, our_steps)]
                took = {}
                for name, fn, into in pair if n % 2 == 0 else reversed(pair):
                    took[name] = timed(fn, n, into)
                if n == -args.warmup and first_errors:
                    _write(f"  raw restore errors (ignored, as by hand): {first_errors}")
                which = f"round {n + 1}" if n >= 0 else "warm-up"
                _write(f"  {which}: raw {took['raw']:.3f} s, runner {took['runner']:.3f} s")
                if n < 0:
                    del raw_steps[-1], our_steps[-1]
    finally:
        shutil.rmtree(work, ignore_errors=True)
        leftovers = [name for name in created if name not in dropped]
        leftovers += [n for n in scratch.list_scratch_databases(server) if n in created]

    raw_s = [s["total"] for s in raw_steps]
    our_s = [s["total"] for s in our_steps]
    med_raw, med_ours = statistics.median(raw_s), statistics.median(our_s)
    _write("")
    _write(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    _write(f"{'dry_run vs raw':<42}{'raw med':>8}{'ours med':>9}{'ratio':>7}"
           f"{'raw min':>8}{'ours min':>9}{'ratio':>7}")  # fmt: skip
    _write(f"{'pg_dump + restore + psql per file (s)':<42}{med_raw:>8.3f}{med_ours:>9.3f}"
           f"{med_ours / med_raw:>7.2f}{min(raw_s):>8.3f}{min(our_s):>9.3f}"
           f"{min(our_s) / min(raw_s):>7.2f}")  # fmt: skip
    _write("")
    _write(f"{'where the time goes (median ms)':<34}{'raw':>8}{'runner':>8}")
    for label, get in _rows(len(pending)):
        cells = []
        for runs in (raw_steps, our_steps):
            values = [v for v in (get(s) for s in runs) if v is not None]
            cells.append(f"{statistics.median(values) * 1000:>8.0f}" if values else f"{'-':>8}")
        _write(f"{label:<34}{cells[0]}{cells[1]}")

    report(
        "dry_run vs pg_dump + restore + psql per file",
        med_ours * 1000,
        med_raw * 1000,
        "ms/run",
        f"{args.tables} tables, {len(pending)} pending files, median of {args.rounds}; "
        f"best-run ratio {min(our_s) / min(raw_s):.2f}",
    )
    if leftovers:
        sys.stderr.write(f"left behind: {leftovers}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
