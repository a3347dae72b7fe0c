"""rollback: execute a saved rollback plan against the target, with live output.

Promises:
- Steps run in the plan's order: each down script in its own transaction, followed by
  deleting its ``supabase_migrations.schema_migrations`` row (``supabase migration repair
  --status reverted``), or one restore from the verified backup (dropped schemas and the
  restore in one transaction), followed by reverting the history of what it undid.
- The first failing step stops the run: its transaction is rolled back and the target is
  left as psql and the CLI would leave it (earlier steps stay done); the result names the
  file, statement, line and SQLSTATE.
- It holds the target's deploy lock for the whole run (the job context takes the portal's
  lock; this runner takes the apply runner's lock on the target database too), so an
  apply and a rollback never run on one database at once.
- The result names each step's file, statements and time, the steps a failure left
  undone, and the backup the plan relied on.
- Before starting, the target's newest applied version must still be the one the plan
  was verified against: a plan made for another state of the database is refused.

Options: ``plan`` (the saved plan: ``steps``, ``verified_target_version``, ``plan_id``),
``backup_manifest`` (a local path to the manifest of the backup a restore step uses).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from migrations_ops.pg import supabase_files
from migrations_ops.pg.backup_manifest import ManifestError, ManifestFile
from migrations_ops.pg.rollback_execute import (
    backup_summary,
    not_attempted,
    run_steps,
    unrestricted_refusal,
)
from migrations_ops.pg.rollback_lock import target_database_lock
from migrations_ops.runners.base import RunContext, RunnerError, RunResult


def _history(conn: Any) -> list[str]:
    return [r.version for r in supabase_files.read_remote_history(conn)]


def _steps_for(
    steps: list[dict[str, Any]], applied: set[str], ctx: RunContext
) -> list[dict[str, Any]]:
    """The plan's steps for what is applied now; the rest is logged as skipped."""
    chosen = []
    for step in steps:
        reverts = [v for v in step.get("reverts", []) if v in applied]
        if not reverts:
            ctx.info(f"skipping {step.get('kind')} step for {', '.join(step.get('reverts', []))}: "
                     "not applied")  # fmt: skip
            continue
        chosen.append({**step, "reverts": reverts})
    return chosen


def _backup(manifest_path: Path | None) -> dict[str, Any] | None:
    """The plan's backup, named in the result whether or not a step restores it (a
    manifest that cannot be read fails the restore step that needs it, not the run)."""
    if manifest_path is None:
        return None
    try:
        return backup_summary(ManifestFile.load(manifest_path))
    except (ManifestError, OSError):
        return None


def _refuse_unrestricted(manifest_path: Path) -> None:
    """Before any step: a plan that restores a dump psql must not run on the worker
    (``unrestricted_refusal``) runs nothing (a manifest that cannot be read fails its
    restore step instead, as it always has)."""
    try:
        manifest = ManifestFile.load(manifest_path)
        refusal = unrestricted_refusal(manifest, manifest_path.parent / manifest.file)
    except (ManifestError, OSError):
        return
    if refusal:
        raise RunnerError(f"nothing was run: {refusal}")


def run(ctx: RunContext) -> RunResult:
    plan: dict[str, Any] = ctx.options.get("plan") or {}
    steps = list(plan.get("steps") or [])
    if not steps:
        raise RunnerError("this rollback has no plan with steps: save a rollback plan first")
    manifest = ctx.options.get("backup_manifest")
    manifest_path = Path(manifest) if manifest else None
    backup = _backup(manifest_path)
    with ctx.connect() as lock_conn:
        target_database_lock(lock_conn, ctx.target_name)
        before = _history(lock_conn)
        newest = before[-1] if before else None
        ours = set(plan.get("release_versions") or [])
        # Outside the release, the history must be as it was when the plan was made: the
        # release's own versions may be applied since (the deploy) or only partly (a
        # deploy that failed midway).
        expected_outside = sorted(v for v in plan.get("applied_versions") or [] if v not in ours)
        outside = sorted(v for v in before if v not in ours)
        if ours and expected_outside != outside:
            raise RunnerError(
                f"{ctx.target_name}'s migration history outside this release changed since "
                f"the plan was made (now {', '.join(outside[-3:]) or 'none'}; then "
                f"{', '.join(expected_outside[-3:]) or 'none'}). Make a new plan (it reads "
                "the history again), then run it"
            )
        if not ours and (plan.get("verified_target_version") or None) != newest:
            raise RunnerError(
                f"{ctx.target_name}'s newest applied migration is {newest or 'none'}, but the "
                f"plan was made when it was {plan.get('verified_target_version') or 'none'}: "
                "make a new plan, then run it"
            )
        applied_now = set(before)
        planned = steps
        steps = _steps_for(steps, applied_now, ctx)
        skipped = sorted({str(v) for s in planned for v in s.get("reverts", [])} - applied_now)
        if not steps:
            return RunResult(
                ok=True,
                summary=f"nothing to roll back: none of the release's migrations is applied on "
                f"{ctx.target_name}",
                data={"plan_id": plan.get("plan_id"), "history_before": before, "steps": [],
                      "target": ctx.target_name, "skipped": skipped, "backup": backup},
            )  # fmt: skip
        if manifest_path is not None and any(s.get("kind") == "restore" for s in steps):
            _refuse_unrestricted(manifest_path)
        ctx.info(
            f"rolling back {ctx.target_name} from {newest} to {plan.get('last_good_version')}: "
            f"{len(steps)} step(s)"
        )
        assert ctx.database_url is not None
        outcomes = run_steps(ctx, ctx.database_url, steps, manifest_path=manifest_path)
        after = _history(lock_conn)
    done = [o for o in outcomes if o.ok]
    data = {
        "plan_id": plan.get("plan_id"),
        "target": ctx.target_name,
        "last_good_version": plan.get("last_good_version"),
        "steps": [o.as_dict() for o in outcomes],
        "not_attempted": not_attempted(steps, outcomes),
        "skipped": skipped,
        "backup": backup,
        "history_before": before,
        "history_after": after,
        "newest_applied_after": after[-1] if after else None,
    }
    if len(done) == len(steps):
        return RunResult(
            ok=True,
            summary=(
                f"rolled back {ctx.target_name}: {len(steps)} step(s) done, newest applied "
                f"migration now {after[-1] if after else 'none'}"
            ),
            data=data,
        )
    failed = outcomes[-1]
    return RunResult(
        ok=False,
        summary=(
            f"rollback of {ctx.target_name} failed at step {failed.index + 1} of {len(steps)}: "
            f"{failed.message}; {len(done)} step(s) before it stay done"
        ),
        data=data,
    )
