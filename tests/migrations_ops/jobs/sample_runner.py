"""A runner for engine tests, steered by ctx.options (the job's params). Needs no database
unless asked for a scratch database."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
from celery.exceptions import SoftTimeLimitExceeded

from migrations_ops.pg import scratch
from migrations_ops.runners.base import RunContext, RunnerError, RunResult

STARTED = "sample runner started"


def _hold(ctx: RunContext) -> None:
    options = ctx.options
    deadline = time.monotonic() + float(options.get("hold_max", 30))
    flag = options.get("hold_until")
    until_cancelled = options.get("hold_until_cancelled", False)
    while flag or until_cancelled:
        ctx.check_cancelled()
        if flag and Path(flag).exists():
            return
        if time.monotonic() > deadline:
            raise RunnerError("sample runner: held too long")
        time.sleep(0.05)


def run(ctx: RunContext) -> RunResult:
    options = ctx.options
    ctx.info(STARTED)
    for n in range(int(options.get("lines", 0))):
        ctx.log("stdout", f"line {n + 1}")
    for text in options.get("say", []):
        ctx.log("stderr" if text.startswith("!") else "stdout", text)
    if options.get("say_nul"):
        ctx.log("stdout", "before\x00after")
    if options.get("say_url"):
        ctx.log("stdout", f"connecting to {ctx.database_url}")
    if options.get("time_out"):
        raise SoftTimeLimitExceeded()
    if options.get("crash"):
        raise ValueError(f"boom while talking to {ctx.database_url}")
    if options.get("target_outage"):
        # What a target that went away mid-job says, when a runner does not catch it.
        raise psycopg.OperationalError("server closed the connection unexpectedly")
    if options.get("fail"):
        raise RunnerError(options["fail"])
    if options.get("scratch"):
        with scratch.scratch_database(
            purpose="sample", on_create=ctx.scratch_created, on_drop=ctx.scratch_dropped
        ) as url:
            ctx.info(f"scratch database ready ({url.rsplit('/', 1)[-1]})")
            _hold(ctx)
            if options.get("crash_in_scratch"):
                raise ValueError("boom inside the scratch database")
    else:
        _hold(ctx)
    return RunResult(
        ok=bool(options.get("ok", True)),
        summary=str(options.get("summary", "sample done")),
        data={
            "files": ["a.sql", "b.sql"],
            "tables": [{"name": "app.notes", "rls": False}],
            "options_seen": sorted(options),
        },
    )
