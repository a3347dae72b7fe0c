"""Benchmark: the backup and restore_check runners against raw pg_dump / psql / pg_restore.

    .venv/bin/python tests/bench/bench_backup.py [--rows 1000000] [--rounds 3]

Creates a source database with at least ``--rows`` rows on the PostgreSQL the tests use
(tests/services.py decides), then, side by side in one run and alternating the order
each round, times:

- backup runner (snapshot export, counts, pg_dump --snapshot, sha256 while streaming,
  fsync, manifest) vs ``pg_dump -f FILE`` of the same schemas with the same pg_dump, and
  vs the same followed by an fsync of FILE (pg_dump does not fsync plain scripts);
- restore_check runner (sha256 check, scratch database, restore, row counts, drop) vs
  ``createdb`` + ``psql -f`` / ``pg_restore -d`` + ``dropdb`` done by hand.

Prints the median and the best of each and their ratios (runner / raw; the best is the
steadier figure on a busy machine), and drops every database it made. Not a test: speed
lives here, not in assertions.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

import tests.services  # noqa: E402,F401  (the tests' DATABASE_URL and settings environment)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "release_portal.settings")

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402

from migrations_ops.pg import pgtools, scratch  # noqa: E402
from migrations_ops.pg.job_sandbox import open_sandbox  # noqa: E402
from migrations_ops.runners import backup, restore_check  # noqa: E402
from migrations_ops.runners.base import RunContext  # noqa: E402
from tests.bench.common import report  # noqa: E402

SCHEMA = """
CREATE SCHEMA app;
CREATE TABLE app.accounts (id bigint PRIMARY KEY, name text NOT NULL);
CREATE TABLE app.events (
  id bigserial PRIMARY KEY, account_id bigint NOT NULL REFERENCES app.accounts (id),
  kind text NOT NULL, payload text, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX events_account ON app.events (account_id);
CREATE TABLE public.profiles (id bigint PRIMARY KEY, owner text NOT NULL, bio text);
ALTER TABLE public.profiles ENABLE ROW LEVEL SECURITY;
CREATE POLICY profiles_owner ON public.profiles FOR SELECT USING (owner = current_user);
INSERT INTO app.accounts SELECT g, 'account ' || g FROM generate_series(1, 10000) g;
INSERT INTO public.profiles SELECT g, 'user' || g, md5(g::text) FROM generate_series(1, 50000) g;
"""


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _quiet(stream: str, text: str) -> None:
    if stream == "error":
        print(text, file=sys.stderr)


def _ctx(**kwargs) -> RunContext:
    return RunContext(target_name="bench", log=_quiet, **kwargs)


def _run(args: list[str], env: dict[str, str], *, check: bool = True) -> None:
    stderr = None if check else subprocess.DEVNULL
    subprocess.run(args, env=env, check=check, stdout=subprocess.DEVNULL, stderr=stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in app.events")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--formats", default="plain,custom")
    args = parser.parse_args()

    server = pgtools.scratch_server_url()
    work = Path(tempfile.mkdtemp(prefix="rp_bench_backup_"))
    results: list[tuple[str, str, list[float], list[float], str]] = []
    total = 0
    try:
        with scratch.scratch_database(purpose="bench_source", server_url=server) as source:
            print(f"Filling the source database ({args.rows:,} events)...", flush=True)
            with psycopg.connect(source, autocommit=True) as conn:
                conn.execute(SCHEMA.encode())
                conn.execute(
                    "INSERT INTO app.events (account_id, kind, payload) "
                    "SELECT 1 + g %% 10000, 'kind' || g %% 7, repeat(md5(g::text), 2) "
                    "FROM generate_series(1, %s) g",
                    [args.rows],
                )
                conn.execute("VACUUM ANALYZE")
                row = conn.execute(
                    "SELECT (SELECT count(*) FROM app.accounts) + (SELECT count(*) FROM app.events)"
                    " + (SELECT count(*) FROM public.profiles)"
                ).fetchone()
                total = row[0] if row else 0
                server_major = conn.info.server_version // 10000
            pg_dump = pgtools.find_tool("pg_dump", server_major)
            psql = pgtools.find_tool("psql", pg_dump.major)
            pg_restore = pgtools.find_tool("pg_restore", pg_dump.major)
            print(f"{total:,} rows; pg_dump {pg_dump.version}, server {server_major}", flush=True)
            src_env = pgtools.libpq_env(source)
            for fmt in args.formats.split(","):
                results += _bench_format(
                    fmt, args.rounds, work, source, src_env, server, pg_dump, psql, pg_restore
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(
        f"{'format':<8}{'runner vs raw':<34}{'raw med':>8}{'runner med':>11}{'ratio':>7}"
        f"{'raw min':>8}{'runner min':>11}{'ratio':>7}  size"
    )
    for fmt, step, raw, ours, size in results:
        med_raw, med_ours = statistics.median(raw), statistics.median(ours)
        print(
            f"{fmt:<8}{step:<34}{med_raw:>8.2f}{med_ours:>11.2f}{med_ours / med_raw:>7.2f}"
            f"{min(raw):>8.2f}{min(ours):>11.2f}{min(ours) / min(raw):>7.2f}  {size}"
        )
    for fmt, step, raw, ours, size in results:  # for `make bench` (tests/bench/run.py)
        report(
            step.replace(" vs ", f" ({fmt}) vs ", 1),
            statistics.median(ours),
            statistics.median(raw),
            "s",
            f"{total:,} rows, {size} dump, median of {args.rounds}",
        )
    leftovers = [n for n in scratch.list_scratch_databases(server) if "bench" in n]
    if leftovers:
        print(f"left behind: {leftovers}", file=sys.stderr)
        return 1
    return 0


def _bench_format(fmt, rounds, work, source, src_env, server, pg_dump, psql, pg_restore):
    raw_dump, raw_synced, our_dump, raw_restore, our_restore = [], [], [], [], []
    size = ""
    for n in range(rounds):
        raw_file = work / f"raw_{fmt}_{n}.{'sql' if fmt == 'plain' else 'dump'}"
        out = work / f"runner_{fmt}_{n}"
        manifest: list[str] = []

        def dump_raw(raw_file=raw_file):
            _run([pg_dump.path, f"--format={fmt}", "--schema=app", "--schema=public",
                  "--no-password", f"--file={raw_file}"], src_env)  # fmt: skip

        def sync_raw(raw_file=raw_file):
            # pg_dump fsyncs custom archives itself but not plain scripts; the runner
            # fsyncs both before renaming. This is the like-for-like baseline.
            fd = os.open(raw_file, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

        def dump_ours(out=out, manifest=manifest):
            ctx = _ctx(database_url=source, options={"out_dir": str(out), "format": fmt})
            result = backup.run(ctx)
            assert result.ok, result.summary
            manifest.append(result.data["manifest_path"])

        def restore_raw(raw_file=raw_file):
            name = scratch.scratch_name("bench_raw")
            url = scratch.create_database(server, name)
            try:
                env = pgtools.libpq_env(url)
                # By hand, errors ignored (as a person would type it): on a server before
                # 17, "SET transaction_timeout" and "CREATE SCHEMA public" fail harmlessly.
                if fmt == "plain":
                    _run([psql.path, "-X", "-q", "-f", str(raw_file)], env, check=False)
                else:
                    _run([pg_restore.path, "--no-password", f"--dbname={name}",
                          str(raw_file)], env, check=False)  # fmt: skip
            finally:
                scratch.drop_database(server, name)

        def restore_ours(manifest=manifest):
            # In a job's sandbox, opened and closed as the worker does for each job: the
            # restore goes into the sandbox's own cluster (its start is part of the cost).
            with open_sandbox(purpose="bench") as box:
                ctx = _ctx(options={"manifest": manifest[0]})
                ctx.sandbox = box
                result = restore_check.run(ctx)
            assert result.ok, result.summary

        def dump_raw_then_sync():
            raw_dump.append(_timed(dump_raw))
            raw_synced.append(raw_dump[-1] + _timed(sync_raw))

        order = [dump_raw_then_sync, lambda: our_dump.append(_timed(dump_ours))]
        for fn in order if n % 2 == 0 else reversed(order):
            fn()
        pairs = [(restore_raw, raw_restore), (restore_ours, our_restore)]
        for fn, into in pairs if n % 2 == 0 else reversed(pairs):
            into.append(_timed(fn))
        size = f"{raw_file.stat().st_size / 1e6:.0f} MB"
        print(f"  {fmt} round {n + 1}: dump {raw_dump[-1]:.2f}/{our_dump[-1]:.2f} s, "
              f"restore {raw_restore[-1]:.2f}/{our_restore[-1]:.2f} s", flush=True)  # fmt: skip
        raw_file.unlink()
        shutil.rmtree(out)
    return [
        (fmt, "backup vs pg_dump -f", raw_dump, our_dump, size),
        (fmt, "backup vs pg_dump -f + fsync", raw_synced, our_dump, size),
        (fmt, "restore_check vs createdb+restore", raw_restore, our_restore, size),
    ]


if __name__ == "__main__":
    sys.exit(main())
