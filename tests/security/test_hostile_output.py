"""The hostile-output corpus: bundle content that answers with more than anyone reads.

Whatever runs in the sandbox may print without end (psql's ``\\!``, ``RAISE`` in a loop, a
query returning gigabytes, a check script), and the worker reads some of it back: psql's
output, the sandbox cluster's log, rows and notices over libpq, the stderr of pg tools,
a check command's lines. None of it may be held by the worker whole: each flood below
would take the worker's memory with it (several hundred MB here, as much as the bundle
likes in real life), and must leave the worker's peak memory about where it was.
"""

from __future__ import annotations

import psycopg

from migrations_ops.pg.apply import MigrationFile, apply_files
from migrations_ops.pg.pgprocess import ToolProcesses
from migrations_ops.runners.base import RunContext
from tests.security.hostile import MB, WorkerPeak
from tests.waiting import wait_until

# What the worker may add to its peak memory while one flood runs.
ROOM = 200 * MB
FLOOD = "head -c 700M /dev/zero"


def test_a_process_flooding_its_output_is_cut_not_held_by_the_worker(sandbox):
    with WorkerPeak() as peak:
        done = sandbox.run(["/bin/sh", "-c", f"{FLOOD}; {FLOOD} >&2; echo never"], timeout=120)
    assert peak.grown < ROOM, f"the worker's peak memory rose by {peak.grown // MB} MB"
    assert len(done.stdout) + len(done.stderr) < ROOM
    assert b"never" not in done.stdout


def test_the_clusters_log_is_read_in_short_lines(sandbox):
    with (
        WorkerPeak() as peak,
        psycopg.connect(sandbox.server_url(), autocommit=True) as conn,
    ):
        # Not sent to this client, only written to the server's log (its stderr).
        conn.execute("SET client_min_messages = error")
        for _ in range(8):
            conn.execute("DO $$ BEGIN RAISE WARNING '%', repeat('w', 100000000); END $$")
        conn.execute("DO $$ BEGIN RAISE WARNING 'flood-done'; END $$")
        tail = sandbox.cluster().log_tail
        wait_until(
            lambda: any("flood-done" in line for line in list(tail)),
            seconds=60,
            what="the cluster's log read up to its last line",
        )
    assert peak.grown < ROOM, f"the worker's peak memory rose by {peak.grown // MB} MB"


def test_rows_and_notices_of_a_migration_do_not_pile_up_in_the_worker(sandbox):
    # The last statement is longer than a socket's buffers: it is sent in parts.
    values = ",".join(["(1)"] * 1_000_000)
    migration = MigrationFile.from_text(
        "20250101000000_flood.sql",
        "DO $$ BEGIN FOR i IN 1..30 LOOP RAISE NOTICE '%', repeat('n', 20000000); END LOOP;"
        " END $$;\n"
        "SELECT repeat('x', 10000000) FROM generate_series(1, 80);\n"
        "CREATE TABLE after_the_flood (id int);\n"
        f"INSERT INTO after_the_flood VALUES {values};\n",
    )
    with psycopg.connect(sandbox.server_url(), autocommit=True) as conn, WorkerPeak() as peak:
        report = apply_files(conn, [migration], log=lambda stream, text: None)
    assert peak.grown < ROOM, f"the worker's peak memory rose by {peak.grown // MB} MB"
    assert report.ok, report.as_dict()
    [applied] = report.files
    assert sum(len(n) for n in applied.notices) < 1 * MB


def test_a_pg_tools_endless_stderr_line_is_cut(sandbox):
    lines: list[str] = []
    ctx = RunContext(log=lambda stream, text: lines.append(text), sandbox=sandbox)
    with WorkerPeak() as peak, ToolProcesses(ctx) as tools:
        tools.start(["/bin/sh", "-c", f"{FLOOD} >&2; echo >&2; echo last words >&2"],
                    env={}, label="psql", sandbox=sandbox)  # fmt: skip
        tools.wait()
    assert peak.grown < ROOM, f"the worker's peak memory rose by {peak.grown // MB} MB"
    assert "last words" in lines
