"""Job ``risk``: what each pending statement will do to the target's real tables.

Promise: **never changes the target**, and never fails a release by itself: the result
is information (``ok`` is False only when the job could not run at all). The target is
read in READ ONLY transactions with a statement and a lock timeout (catalog, sizes,
loss counts); everything that executes migration SQL runs on the dry run's scratch copy.

Steps:

1. Parse every local migration with pglast (``pg.statement_effects``): per statement,
   what it does, the relations it touches and the lock mode each gets, rewrites, scans,
   hazards, what it may destroy. A statement the parser cannot read is reported as such.
2. Run the dry run (``runners.dry_run``, with the target's rows when they fit in
   ``data_max_mb``: ``with_data`` is on by default here), with a ``pg.lock_recorder``
   watching each pending statement: the locks PostgreSQL granted it, its time, the rows
   it affected, how long its lock was held (until its transaction ended).
3. Read the target (``pg.target_facts``): which relations exist, their ``reltuples`` and
   ``pg_total_relation_size``, columns, indexes, foreign keys; count what each loss
   destroys (exact, or sampled with a time limit on very large tables, and said so).
   When the target cannot be read, the scratch copy's catalog stands in and nothing is
   counted; the notes say so.
4. Settle the pending statements against those facts (``pg.release_risk``), ask squawk
   for a second opinion (``pg.squawk``), and build the report with a risk level per
   statement and for the release (``pg.risk_rules``, ``pg.risk_report``).

Options: those of ``dry_run`` (``with_data`` defaults to true here), ``exact_max_rows``
(1,000,000), ``sample_rows`` (100,000), ``count_timeout`` ("5s"), ``lock_hold_warn_seconds``
(1.0), ``large_table_rows``, ``large_table_bytes``, ``long_lock_seconds`` (risk_rules),
``squawk`` (true), ``squawk_exclude`` (a list of rule names).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import psycopg

from migrations_ops.pg import (
    release_risk,
    risk_report,
    risk_rules,
    squawk,
    target_facts,
)
from migrations_ops.pg.lock_recorder import LockRecorder
from migrations_ops.pg.release_risk import FileStatements
from migrations_ops.runners import dry_run, target_copy
from migrations_ops.runners.base import RunContext, RunnerError, RunResult


def run(ctx: RunContext) -> RunResult:
    timings: dict[str, float] = {}
    # The dry run's own rules for what is pending, so both jobs look at the same files.
    files = target_copy.pending_files(ctx)
    target = files.target
    clock = time.monotonic()
    pending = release_risk.analyse_files(files.pending)
    timings["parse"] = time.monotonic() - clock
    ctx.info(f"Parsed {sum(len(f.effects) for f in pending)} pending statement(s)")

    options = {"with_data": True, **ctx.options}
    dry_ctx = dataclasses.replace(ctx, options=options)
    scratch: dict[str, Any] = {}

    @contextlib.contextmanager
    def observe(url: str, pid: int) -> Iterator[LockRecorder]:
        def read_scratch(conn: psycopg.Connection) -> None:
            scratch["facts"] = _facts(conn, pending, source="the scratch copy")

        # The copy's catalog stands in for the target's only when the target is unreadable.
        first = read_scratch if target is None else None
        with LockRecorder(url, pid, on_first=first) as recorder:
            scratch["recorder"] = recorder
            yield recorder

    clock = time.monotonic()
    notes: list[str] = []
    try:
        rehearsal: RunResult | None = dry_run.run(dry_ctx, observe=observe)
    except RunnerError as e:
        # The analysis does not need the copy: it goes on without measurements.
        rehearsal = None
        notes.append(f"the dry run could not run ({e}): no lock was observed and nothing timed")
    timings["dry_run"] = time.monotonic() - clock
    if rehearsal is not None:
        notes += rehearsal.data.get("notes", [])
        if not rehearsal.ok:
            notes.append(
                f"the dry run did not succeed ({rehearsal.summary}): statements it did not "
                "reach have no measured locks or times"
            )

    clock = time.monotonic()
    facts, counted = _target_facts(ctx, pending, notes)
    if facts is None:
        facts = scratch.get("facts") or target_facts.TargetFacts(source="nothing")
        notes.append(
            f"{ctx.target_name} could not be read: table sizes come from {facts.source} and "
            "data loss is not counted"
        )
    timings["target"] = time.monotonic() - clock

    resolved = release_risk.Resolver(facts).resolve(pending)
    requests = [request for item in resolved for request in item.counts]
    counts: dict[int, target_facts.LossCount] = {}
    if counted and requests:
        clock = time.monotonic()
        counts = _count(ctx, requests, facts, notes)
        timings["counts"] = time.monotonic() - clock

    findings: list[squawk.SquawkFinding] = []
    if ctx.options.get("squawk", True) and pending:
        clock = time.monotonic()
        version = f"{facts.server_version_num // 10000}.0" if facts.server_version_num else None
        exclude = ctx.options.get("squawk_exclude", squawk.DEFAULT_EXCLUDED)
        findings, note = squawk.run(
            [f.migration for f in pending], pg_version=version, exclude=exclude,
            sandbox=ctx.sandbox,
        )  # fmt: skip
        if note:
            notes.append(note)
        timings["squawk"] = time.monotonic() - clock

    report = risk_report.build(
        resolved,
        facts=facts,
        counts=counts,
        recorder=scratch.get("recorder"),
        squawk=findings,
        thresholds=risk_rules.Thresholds.from_options(ctx.options),
        hold_warn_seconds=float(ctx.options.get("lock_hold_warn_seconds", 1.0)),
        copy_rows=_copy_rows(rehearsal.data if rehearsal else {}),
    )
    timings["total"] = time.monotonic() - ctx.started
    data = {
        **report,
        "notes": notes + facts.notes,
        "pending": [f.migration.filename for f in pending],
        "target": {"source": facts.source, "server_version_num": facts.server_version_num},
        "dry_run": {
            "ok": rehearsal.ok if rehearsal else False,
            "summary": rehearsal.summary if rehearsal else "could not run",
            "first_failure": rehearsal.data.get("first_failure") if rehearsal else None,
        },
        # What the pending files change in the catalog, as the dry run saw it.
        "catalog_summary": rehearsal.data.get("catalog_summary", []) if rehearsal else [],
        # The same by category, for pages to say in words (added, changed and how, removed).
        "catalog_changes": rehearsal.data.get("catalog_changes", {}) if rehearsal else {},
        "squawk_findings": len(findings),
        "timings": {k: round(v, 4) for k, v in timings.items()},
    }
    return RunResult(ok=True, summary=_summary(report, len(pending)), data=data)


def _facts(
    conn: psycopg.Connection, analysed: list[FileStatements], *, source: str
) -> target_facts.TargetFacts:
    facts = target_facts.read_catalog(conn, source=source)
    target_facts.read_details(
        conn,
        facts,
        touched=release_risk.touched_names(analysed, facts.search_path),
        functions=release_risk.default_functions(analysed),
    )
    return facts


def _target_facts(
    ctx: RunContext, pending: list[FileStatements], notes: list[str]
) -> tuple[target_facts.TargetFacts | None, bool]:
    """The target's facts (None when it cannot be read) and whether it can be counted."""
    if not ctx.database_url:
        return None, False
    try:
        with ctx.connect() as conn:
            return _facts(conn, pending, source=ctx.target_name), True
    except (RunnerError, psycopg.Error) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        notes.append(f"reading {ctx.target_name}'s catalog failed: {reason}")
        return None, False


def _count(
    ctx: RunContext,
    requests: list[target_facts.CountRequest],
    facts: target_facts.TargetFacts,
    notes: list[str],
) -> dict[int, target_facts.LossCount]:
    try:
        with ctx.connect() as conn:
            results = target_facts.count_losses(
                conn,
                requests,
                facts,
                exact_max_rows=int(ctx.options.get("exact_max_rows", 1_000_000)),
                sample_rows=int(ctx.options.get("sample_rows", 100_000)),
                count_timeout=str(ctx.options.get("count_timeout", "5s")),
            )
    except (RunnerError, psycopg.Error) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        notes.append(f"counting data loss on {ctx.target_name} failed: {reason}")
        return {}
    return {id(request): result for request, result in zip(requests, results, strict=True)}


def _copy_rows(data: dict[str, Any]) -> str:
    copy = data.get("copy") or {}
    if copy.get("with_data"):
        return ""
    return "schema only, no rows: times there say little about the target"


def _summary(report: dict[str, Any], pending: int) -> str:
    if not pending:
        return "no pending migrations: nothing to assess"
    statements = report["statements"]
    lost = [s for s in statements if s.get("destroys")]
    text = (
        f"release risk {report['level']}: {len(statements)} statement(s) in {pending} "
        f"file(s), {report['hazards']} hazard(s)"
    )
    if lost:
        total = sum(s["destroys"] for s in lost)
        text += f", {total:,} row(s) or value(s) destroyed by {len(lost)} statement(s)"
    return text
