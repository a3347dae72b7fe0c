"""A rollback plan run: for real on a target (rollback), or tried on a scratch copy of its
backup first (rehearsal). Per step, what ran, how long, and where it failed."""

from __future__ import annotations

from typing import Any

from migrations_ops.jobs.results.backups import setup_lines
from migrations_ops.jobs.results.migrations import (
    duration_text,
    failure_view,
    file_rows,
    outcome,
    schema_changes,
)

STEP_KINDS = {"down": "down script", "restore": "restore from the backup"}


def step_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per step of the plan: done, failed (at line N of its file), not attempted."""
    rows = []
    for step in result.get("steps") or []:
        failure = step.get("failure") or {}
        status, state = outcome(step, done="done")
        rows.append(
            {
                "step": step.get("step"),
                "kind": STEP_KINDS.get(step.get("kind", ""), step.get("kind", "")),
                "file": step.get("file", ""),
                "status": status,
                "state": state,
                "statements": step.get("statements"),
                # Results from before steps were timed carry no time: say nothing.
                "time": duration_text(step["seconds"]) if "seconds" in step else "",
                "reverts": list(step.get("reverts") or []),
                "loses": step.get("loses_text", ""),
                # A failure's own words are in the banner; a restore's only here.
                "message": "" if step.get("ok") or failure else step.get("message", ""),
            }
        )
    for step in result.get("not_attempted") or []:
        rows.append(
            {
                "step": step.get("step"),
                "kind": STEP_KINDS.get(step.get("kind", ""), step.get("kind", "")),
                "file": step.get("file", ""),
                "status": "not attempted",
                "state": "skipped",
                "statements": None,
                "time": "",
                "reverts": list(step.get("reverts") or []),
                "loses": "",
                "message": "",
            }
        )
    return rows


def _failed_step(result: dict[str, Any]) -> dict[str, Any] | None:
    """The step that stopped the run (always the last one that ran), with its failure."""
    steps = result.get("steps") or []
    if not steps or steps[-1].get("ok"):
        return None
    last = steps[-1]
    where = failure_view(last.get("failure")) or {
        "description": last.get("message", ""), "advice": "", "statement": "", "hint": None,
        "detail": None, "environment_gap": False,
    }  # fmt: skip
    return {**where, "step": last.get("step"), "file": last.get("file", "")}


def _backup(details: Any, name: str = "") -> dict[str, Any] | None:
    if isinstance(details, dict):
        return {
            "file": details.get("file", ""),
            "format": details.get("format", ""),
            "taken_at": details.get("taken_at", ""),
            "schemas": list(details.get("schemas") or []),
            "newest_applied": details.get("newest_applied"),
            "verified": details.get("verified"),
        }
    return {"file": name, "format": "", "taken_at": "", "schemas": [], "newest_applied": None,
            "verified": None} if name else None  # fmt: skip


def present_rollback(result: dict[str, Any]) -> dict[str, Any]:
    before = list(result.get("history_before") or [])
    steps = step_rows(result)
    return {
        "target": result.get("target", ""),
        "steps": steps,
        "done": sum(1 for s in steps if s["state"] == "ok"),
        "failure": _failed_step(result),
        "skipped": list(result.get("skipped") or []),
        "backup": _backup(result.get("backup")),
        "restored": any(s.get("kind") == "restore" for s in result.get("steps") or []),
        "last_good": result.get("last_good_version"),
        "newest_before": before[-1] if before else None,
        "newest_after": result.get("newest_applied_after"),
        "ran": bool(result.get("steps")),
    }


def present_rehearsal(result: dict[str, Any]) -> dict[str, Any]:
    steps = step_rows(result)
    differences = schema_changes(result.get("differences") or {})
    history = list(result.get("history_after") or [])
    expected = list(result.get("history_expected") or [])
    rows = result.get("rows_changed") or {}
    return {
        "backup": _backup(result.get("backup_details"), str(result.get("backup") or "")),
        "applied": file_rows({"files": result.get("applied_files") or []}),
        "applied_count": (result.get("apply") or {}).get("files"),
        "steps": steps,
        "steps_ok": bool(steps) and all(s["state"] == "ok" for s in steps),
        "failure": _failed_step(result),
        "release_changes": schema_changes(result.get("migrations_changed") or {}),
        "differences": differences,
        "history_ok": history == expected,
        "history_after": history,
        "history_expected": expected,
        "rows_changed": [
            {"table": name, "before": counts.get("before"), "after": counts.get("after")}
            for name, counts in sorted(rows.items())
        ],
        **setup_lines(result),
    }
