"""Benchmark: the risk analysis of a 120-file migrations folder, and the risk job's overhead.

    .venv/bin/python tests/bench/bench_risk.py [--rounds 3] [--rows 2000]

Writes a ``supabase/migrations`` folder of 120 files (about ten statements each: tables,
indexes, policies, functions, grants, column changes, data fixes...). The first 100 are
applied to a "staging" database on the tests' PostgreSQL, with ``--rows`` rows in each
table; the last 20 are pending. Then, side by side in one run, alternating the order:

- parse: ``release_risk.analyse_files`` on all 120 files (pglast parse trees and what
  each statement does) against splitting them as the CLI does (``sqlsplit``), which
  the portal does anyway. Parsing alone must stay under 1 s;
- analysis: parse + staging's catalog and sizes + settling names, locks and hazards +
  loss counts + the report, without the dry run (what the risk job adds to it, minus
  squawk and the lock recorder);
- job: ``risk.run`` against ``dry_run.run`` with the same options (rows copied), each in
  a new job sandbox as a worker runs them: the risk job runs that dry run itself, with
  its lock recorder, and adds the analysis, the target reads and squawk.

Prints ``BENCH {json}`` lines (tests/bench/run.py gathers them) and the risk job's own
step timings. Drops every database it made. Not a test: speed lives here.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

import tests.services  # noqa: E402,F401  (the tests' DATABASE_URL and settings environment)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "release_portal.settings")

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402

from migrations_ops.pg import pgtools, release_risk, risk_report, scratch, target_facts  # noqa: E402  # noqa: E402
from migrations_ops.pg.apply import MigrationFile, apply_files  # noqa: E402
from migrations_ops.pg.job_sandbox import open_sandbox  # noqa: E402
from migrations_ops.pg.sqlsplit import split_statements  # noqa: E402
from migrations_ops.runners import dry_run, risk  # noqa: E402
from migrations_ops.runners.base import RunContext, RunResult  # noqa: E402
from tests.bench.common import report  # noqa: E402

ROLES = ROOT / "migrations_ops" / "demo_supabase" / "tests" / "fixtures" / "roles.sql"
APPLIED = 100
FILES = 120


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _quiet(stream: str, text: str) -> None:
    if stream == "error":
        sys.stderr.write(text + "\n")


def _applied_file(i: int, rows: int) -> str:
    t = f"app.t{i:03d}"
    return f"""-- table {i}
create table {t} (
  id bigint generated always as identity primary key,
  owner uuid not null,
  name text not null,
  amount numeric(12, 2) not null default 0,
  note text,
  created_at timestamptz not null default now()
);
create index t{i:03d}_owner on {t} (owner);
alter table {t} enable row level security;
create policy "t{i:03d} owners" on {t} for select to authenticated using (owner = auth.uid());
create policy "t{i:03d} writers" on {t} for insert to authenticated
  with check (owner = auth.uid());
grant select, insert on {t} to authenticated;
comment on table {t} is 'table {i}';
create or replace function app.t{i:03d}_total(who uuid) returns numeric
language sql stable set search_path = '' as $$
  select coalesce(sum(amount), 0) from {t} where owner = who
$$;
insert into {t} (owner, name, amount, note)
select gen_random_uuid(), 'row ' || g, g % 1000, case when g % 3 = 0 then null else 'n' end
from generate_series(1, {rows}) g;
"""  # noqa: S608 (generated migrations)


def _pending_file(i: int) -> str:
    t = f"app.t{(i - APPLIED) * 4 + 1:03d}"
    return f"""-- change {i}
alter table {t} add column tier text;
create index t{i:03d}_name on {t} (name);
alter table {t} add constraint t{i:03d}_amount check (amount >= 0) not valid;
alter table {t} validate constraint t{i:03d}_amount;
alter table {t} alter column name type varchar(200);
comment on column {t}.tier is 'plan';
update {t} set tier = 'basic' where amount > 500;
delete from {t} where note is null and amount < 10;
alter table {t} drop column note;
create policy "t{i:03d} tier" on {t} for update to authenticated using (owner = auth.uid());
"""  # noqa: S608 (generated migrations)


def _project(work: Path, rows: int) -> list[Path]:
    migrations = work / "supabase" / "migrations"
    migrations.mkdir(parents=True)
    (work / "supabase" / "roles.sql").write_text(ROLES.read_text())
    paths = []
    for i in range(1, FILES + 1):
        text = "create schema if not exists app;\n" if i == 1 else ""
        text += _applied_file(i, rows) if i <= APPLIED else _pending_file(i)
        path = migrations / f"2025{i:010d}_step_{i}.sql"
        path.write_text(text)
        paths.append(path)
    return paths


def _median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=2000)
    args = parser.parse_args()
    server = pgtools.scratch_server_url()
    work = Path(tempfile.mkdtemp(prefix="rp_bench_risk_"))
    try:
        paths = _project(work, args.rows)
        texts = [(p.name, p.read_text()) for p in paths]
        files = [MigrationFile.from_path(p) for p in paths]
        statements = sum(len(f.statements) for f in files)

        # 1. parsing alone, against the CLI's splitting
        parse, split = [], []
        for r in range(max(args.rounds, 5)):
            order = [0, 1] if r % 2 == 0 else [1, 0]
            for which in order:
                start = time.perf_counter()
                if which == 0:
                    release_risk.analyse_files(files)
                    parse.append(time.perf_counter() - start)
                else:
                    for _, text in texts:
                        split_statements(text)
                    split.append(time.perf_counter() - start)
        _write(f"{FILES} files, {statements} statements")
        _write(f"parse (pglast + effects): median {_median(parse) * 1000:.0f} ms; "
               f"split only: {_median(split) * 1000:.0f} ms")  # fmt: skip
        report(
            f"risk: parse {FILES} files ({statements} statements)",
            _median(parse),
            _median(split),
            "s",
            "pglast parse + effects vs the CLI's splitting; must stay under 1 s",
        )

        with scratch.scratch_database(purpose="bench_risk", server_url=server) as staging:
            # Staging is the bench's own target (trusted setup): its fixture is loaded directly.
            with psycopg.connect(staging, autocommit=True) as conn:
                conn.execute(ROLES.read_text())
                built = apply_files(conn, files[:APPLIED], log=_quiet)
                assert built.ok, built.first_failure and built.first_failure.describe()
                conn.execute("VACUUM ANALYZE")

            # 2. the analysis without the dry run
            pending = release_risk.analyse_files(files[APPLIED:])

            def analysis() -> None:
                analysed = release_risk.analyse_files(files[APPLIED:])
                with psycopg.connect(staging, autocommit=True) as conn:
                    facts = target_facts.read_catalog(conn, source="staging")
                    target_facts.read_details(
                        conn, facts, touched=release_risk.touched_names(analysed, facts.search_path)
                    )
                    resolved = release_risk.Resolver(facts).resolve(analysed)
                    requests = [r for s in resolved for r in s.counts]
                    counts = target_facts.count_losses(conn, requests, facts)
                risk_report.build(
                    resolved, facts=facts,
                    counts={id(r): c for r, c in zip(requests, counts, strict=True)},
                )  # fmt: skip

            timings = []
            for _ in range(args.rounds):
                start = time.perf_counter()
                analysis()
                timings.append(time.perf_counter() - start)
            _write(f"analysis of {len(pending)} pending files without the dry run: "
                   f"median {_median(timings) * 1000:.0f} ms")  # fmt: skip
            report(f"risk: analysis of {len(pending)} pending files (no dry run)",
                   _median(timings), None, "s",
                   "parse, staging's catalog and sizes, locks, hazards, loss counts")  # fmt: skip

            # 3. the risk job against the dry run it runs
            def job(runner: Callable[[RunContext], RunResult]) -> RunResult:
                # A job's sandbox, opened and closed as the worker does for each job.
                with open_sandbox(purpose="bench") as box:
                    box.add_content(work)
                    return runner(
                        RunContext(
                            supabase_dir=work / "supabase", repo_dir=work, database_url=staging,
                            target_name="staging", fixtures=[work / "supabase" / "roles.sql"],
                            schemas=["app", "public"], options={"with_data": True}, log=_quiet,
                            sandbox=box,
                        )
                    )  # fmt: skip

            job(dry_run.run)  # warm-up: tool lookups, caches
            ours, base, steps = [], [], []
            for r in range(args.rounds):
                order = [0, 1] if r % 2 == 0 else [1, 0]
                for which in order:
                    start = time.perf_counter()
                    if which == 0:
                        result = job(risk.run)
                        ours.append(time.perf_counter() - start)
                        steps.append(result.data["timings"])
                    else:
                        done = job(dry_run.run)
                        assert done.ok, done.summary
                        base.append(time.perf_counter() - start)
            _write(f"risk job: median {_median(ours):.2f} s; dry run: {_median(base):.2f} s; "
                   f"overhead {(_median(ours) - _median(base)):.2f} s")  # fmt: skip
            for key in steps[0]:
                _write(f"  {key:10s} {_median([s.get(key, 0.0) for s in steps]) * 1000:8.0f} ms")
            _write(f"  risk level {result.data['level']}, {result.data['hazards']} hazards, "
                   f"{len(result.data['data_loss'])} losses counted")  # fmt: skip
            report(
                f"risk job vs its dry run ({len(pending)} pending files, {args.rows:,} rows/table)",
                _median(ours),
                _median(base),
                "s",
                "the risk job runs the dry run with a lock recorder, then reads staging",
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
