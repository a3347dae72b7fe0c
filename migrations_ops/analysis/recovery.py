"""Each data loss of a release, against the way back: its verified backup and rollback plan.

From what is stored (a backup's manifest: its schemas, tables with row counts, the
versions applied when it was taken; a rollback plan's steps), for every loss the risk
job counted: does the release's newest verified backup hold those rows, and which step
of the rollback plan would bring them back, with what that step loses. A down script
rebuilds structure, never rows: only a restore of the backup brings destroyed rows back.
"""

from __future__ import annotations

from typing import Any

from migrations_ops.models import BackupManifest, RollbackPlan


def version_of(filename: str) -> str:
    """``20250101000000_name.sql`` -> ``20250101000000``."""
    return filename.split("_", 1)[0]


def backup_holds(loss: dict[str, Any], backup: BackupManifest | None) -> dict[str, Any]:
    """Whether ``backup`` holds what ``loss`` destroys, and why (or why not)."""
    if backup is None:
        return {
            "holds": False,
            "why": "no verified backup of this release yet: capture one and let its restore "
            "check pass",
        }
    taken = backup.finished_at.strftime("%Y-%m-%d %H:%M UTC")
    named = {"backup": backup.pk, "file": backup.file_name, "taken": taken}
    schema, _, table = str(loss.get("table") or "").partition(".")
    version = version_of(str(loss.get("file") or ""))
    if version in set(backup.applied_versions or []):
        return {
            **named,
            "holds": False,
            "why": f"backup #{backup.pk} was taken after {loss['file']} was applied: the rows "
            "were already gone",
        }
    if schema not in set(backup.schemas or []):
        return {
            **named,
            "holds": False,
            "why": f"backup #{backup.pk} ({taken}) does not include the schema {schema}",
        }
    counted = next(
        (t for t in backup.tables or [] if t.get("schema") == schema and t.get("table") == table),
        None,
    )
    if counted is None:
        return {
            **named,
            "holds": False,
            "why": f"backup #{backup.pk} ({taken}) has no table {schema}.{table}",
        }
    rows = int(counted.get("rows") or 0)
    return {
        **named,
        "holds": True,
        "rows": rows,
        "why": f"backup #{backup.pk} ({backup.file_name}, {taken}) holds {schema}.{table} "
        f"with {rows:,} row(s)",
    }


def rollback_step(loss: dict[str, Any], plan: RollbackPlan | None) -> dict[str, Any]:
    """The plan's step that undoes the loss's migration, whether it brings the rows back,
    and what it loses."""
    if plan is None:
        return {"step": None, "restores_rows": False, "why": "no rollback plan yet"}
    version = version_of(str(loss.get("file") or ""))
    for number, step in enumerate(plan.steps or [], start=1):
        if version not in (step.get("reverts") or []):
            continue
        kind = step.get("kind")
        if kind == "restore":
            return {
                "plan": plan.pk,
                "step": number,
                "kind": kind,
                "restores_rows": bool(step.get("backup_id")),
                "loses": step.get("loses_text", ""),
                "why": f"step {number} restores backup {step.get('file') or '(none chosen)'}",
            }
        return {
            "plan": plan.pk,
            "step": number,
            "kind": kind,
            "restores_rows": False,
            "loses": step.get("loses_text", ""),
            "why": f"step {number} runs the down script {step.get('file')}: it rebuilds the "
            "structure, not the rows; only a restore of the backup brings them back",
        }
    return {
        "plan": plan.pk,
        "step": None,
        "restores_rows": False,
        "why": f"rollback plan #{plan.pk} has no step for {version}",
    }


def ledger_with_recovery(
    ledger: list[dict[str, Any]],
    *,
    backup: BackupManifest | None,
    plan: RollbackPlan | None,
) -> list[dict[str, Any]]:
    """The data-loss ledger, each entry with ``backup`` and ``rollback``."""
    return [
        {**loss, "backup": backup_holds(loss, backup), "rollback": rollback_step(loss, plan)}
        for loss in ledger
    ]
