"""Job ``apply``: apply the release's pending migrations to its target, as ``supabase db push``.

Promise: the target ends exactly as the Supabase CLI would leave it. Each pending file
runs in one transaction together with its ``supabase_migrations.schema_migrations`` row
(version, name, statements), in version order (``migrations_ops.pg.apply.apply_files``);
the first failing file is rolled back and nothing after it is attempted, while the files
before it stay committed and recorded. The result names the file, statement, line and
SQLSTATE that failed, and which files were committed.

Pending files are found with the CLI's rules (``supabase_files.compare``): versions in the
target's history with no local file (remote-only drift) refuse the whole run, as the CLI
does; files older than the newest applied version are applied only with
``options["include_all"]`` (``--include-all``). Running it again once everything is
applied applies nothing.

Production guard (``options["target_kind"] == "production"``, set by the job context from
the Target, never from job parameters): the run is refused unless the job was queued by
``checklists.deployments.apply.apply_start``, which checked the release gate and recorded
the digest it approved (``options["gate_checked"]``, ``options["approved_digest"]``); it
is held, before it connects, when that digest no longer equals the release's digest now
(``options["release_digest"]``, read by the job context when the job starts) or a freeze
window began while it was queued (``production_hold``). Staging needs no gate.

Only one apply runs against a database at a time: a session advisory lock on the target
refuses a second one instead of interleaving two releases' files.

Options: ``include_all``, ``lock_timeout`` (default "10s" per file, so a migration waiting
behind a long transaction fails with SQLSTATE 55P03 instead of queueing every query behind
it; ``None`` waits forever like the CLI), ``non_transactional`` ("fail" or "standalone").
"""

from __future__ import annotations

from typing import Any

import psycopg

from migrations_ops.pg import pgtools
from migrations_ops.pg import supabase_files as sf
from migrations_ops.pg.apply import MigrationFile
from migrations_ops.pg.apply_report import ApplyReport
from migrations_ops.runners.base import (
    JobCancelled,
    RunContext,
    RunnerError,
    RunResult,
)
from migrations_ops.runners.order import load_local_migrations

PRODUCTION = "production"
# pg_try_advisory_lock key: "rp_apply" as a 64-bit number, the same on every portal.
APPLY_LOCK_KEY = int.from_bytes(b"rp_apply", "big") & 0x7FFF_FFFF_FFFF_FFFF


class ProductionGuard(RunnerError):
    """Production was not approved for what is about to be applied."""


def check_production_guard(ctx: RunContext) -> None:
    """Refuse a production run the gate never checked (not started through the deploy
    action): there is no approval to hold it to."""
    if ctx.options.get("target_kind") != PRODUCTION:
        return
    if not ctx.options.get("gate_checked") or not ctx.options.get("approved_digest"):
        raise ProductionGuard(
            f"refusing to apply to {ctx.target_name} (production): this job was not started "
            "through the release's deploy action, which checks the release gate and records "
            "the digest it approved. Start the deployment from the release page or the API"
        )


def production_hold(ctx: RunContext) -> str:
    """Why a production run the gate approved is held before it connects, or "": the
    release changed after the approval, or a freeze window began while it was queued
    (``options["freeze_refusal"]``). Nothing is applied; the deployment's end hands the
    release back to the state its checklist and sign-offs call for, not to failed."""
    if ctx.options.get("target_kind") != PRODUCTION:
        return ""
    approved = str(ctx.options.get("approved_digest") or "")
    current = str(ctx.options.get("release_digest") or "")
    if approved != current:
        now = current[:12] or "none"
        return (
            f"refusing to apply to {ctx.target_name} (production): the release changed after "
            f"the gate approved it (approved digest {approved[:12]}, now {now}); nothing was "
            "applied. Its sign-offs are stale: get them again, then start the deployment anew"
        )
    return str(ctx.options.get("freeze_refusal") or "")


def _migration_files(files: list[sf.LocalMigration]) -> list[MigrationFile]:
    try:
        return [MigrationFile.from_path(f.path) for f in files]
    except ValueError as e:
        raise RunnerError(str(e)) from None
    except OSError as e:
        raise RunnerError(f"could not read a migration file: {e.strerror or e}") from None


def _take_apply_lock(ctx: RunContext, conn: psycopg.Connection) -> None:
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", [APPLY_LOCK_KEY]).fetchone()
    if not row or not row[0]:
        raise RunnerError(
            f"another apply is running against {ctx.target_name} right now (it holds the "
            "portal's apply lock): wait for it to finish, then run this one again"
        )


def _history_summary(comparison: sf.HistoryComparison) -> dict[str, Any]:
    return {
        "applied_before": [f.filename for f, _ in comparison.applied],
        "newest_applied_before": comparison.newest_applied,
        "pending": [f.filename for f in comparison.pending],
        "pending_older_than_newest_applied": [
            f.filename for f in comparison.pending_older_than_newest_applied
        ],
        "remote_only": [r.as_dict() for r in comparison.remote_only],
    }


def _failed_summary(ctx: RunContext, report: ApplyReport) -> str:
    failure = report.first_failure
    committed = len(report.applied)
    left = len(report.not_attempted)
    where = failure.describe() if failure else "a migration failed"
    return (
        f"apply to {ctx.target_name} failed at {where}; that file was rolled back, "
        f"{committed} earlier file(s) stay applied, {left} later file(s) not attempted"
    )


def run(ctx: RunContext) -> RunResult:
    """Apply the pending migrations to ``ctx.database_url``; see the module docstring."""
    check_production_guard(ctx)
    if held := production_hold(ctx):
        # ``held`` tells the deployment's end that nothing touched production.
        ctx.error(held)
        return RunResult(ok=False, summary=held, data={"target": ctx.target_name, "held": held})
    include_all = bool(ctx.options.get("include_all", False))
    _, local, skipped = load_local_migrations(ctx)
    for entry in skipped:
        if entry.filename.lower().endswith(".sql") or entry.code != sf.SKIP_PATTERN:
            ctx.info(f"Skipping migration {entry.filename}... ({entry.reason})")
    ctx.check_cancelled()
    data: dict[str, Any] = {
        "target": ctx.target_name,
        "target_kind": ctx.options.get("target_kind", ""),
        "include_all": include_all,
        "approved_digest": ctx.options.get("approved_digest", ""),
    }
    with ctx.connect() as conn:
        _take_apply_lock(ctx, conn)
        try:
            history = sf.read_remote_history(conn)
        except psycopg.Error as e:
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise RunnerError(
                f"could not read {sf.HISTORY_TABLE} on {ctx.target_name}: {reason}"
            ) from None
        comparison = sf.compare(local, history)
        data.update(_history_summary(comparison))
        refusal = comparison.cli_refusal(include_all=include_all)
        if refusal:
            ctx.error(refusal)
            data["refused"] = refusal
            return RunResult(
                ok=False, summary=f"not applied to {ctx.target_name}: {refusal}", data=data
            )
        to_apply = comparison.cli_would_apply(include_all=include_all)
        if not to_apply:
            ctx.info(f"Remote database is up to date: {len(history)} migration(s) applied.")
            data["apply"] = ApplyReport().as_dict()
            return RunResult(
                ok=True,
                summary=f"{ctx.target_name} is up to date: nothing to apply",
                data=data,
            )
        files = _migration_files(to_apply)
        ctx.info(f"Applying {len(files)} migration(s) to {ctx.target_name}:")
        for migration in files:
            ctx.info(f"  - {migration.filename}")
        report = ApplyReport()
        try:
            report = ctx.apply_pending(conn, files, on_file=report.files.append)
        except JobCancelled:
            # Between two files: what committed stays committed, as after a CLI interrupt.
            ctx.info(
                f"cancelled; {len(report.applied)} file(s) had been applied: "
                + (", ".join(report.applied) or "none")
            )
            raise
        except psycopg.OperationalError as e:
            # The server went away (restart, crash, network): the file in flight rolled
            # back with its transaction; the ones before it are committed and recorded.
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
            done = ", ".join(report.applied) or "none"
            raise RunnerError(
                f"lost the connection to {ctx.target_name} "
                f"({pgtools.describe_server(ctx.database_url or '')}) while applying: {reason}. "
                f"Applied and recorded before that: {done}; the file in flight was rolled "
                "back. Apply again once the database is back: it continues from there."
            ) from None
        data["apply"] = report.as_dict()
        data["applied"] = report.applied
        data["not_attempted"] = report.not_attempted
        data["newest_applied_after"] = _newest(conn)
    data["seconds"] = ctx.seconds()
    if not report.ok:
        summary = _failed_summary(ctx, report)
        ctx.error(summary)
        first = report.first_failure
        data["first_failure"] = first.as_dict() if first else None
        return RunResult(ok=False, summary=summary, data=data)
    ctx.info("Finished supabase db push.")
    return RunResult(
        ok=True,
        summary=f"applied {len(report.applied)} migration(s) to {ctx.target_name}",
        data=data,
    )


def _newest(conn: psycopg.Connection) -> str | None:
    try:
        history = sf.read_remote_history(conn)
    except psycopg.Error:
        return None
    return history[-1].version if history else None
