"""Migrations applied somewhere (a dry run's scratch copy, a target): per file, what
happened, and what the schema gained or lost."""

from __future__ import annotations

from typing import Any

CATEGORY_LABELS = {
    "tables": "Tables",
    "views": "Views",
    "functions": "Functions",
    "policies": "Policies",
    "indexes": "Indexes",
    "types": "Types",
    "triggers": "Triggers",
    "extensions": "Extensions",
}


def duration_text(value: Any) -> str:
    """Seconds as people read them: "340 ms", "2.5 s"."""
    seconds = float(value or 0)
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def outcome(entry: dict[str, Any], *, done: str) -> tuple[str, str]:
    """(status, state) of one file or step that ran: ``done``, failed at line N, or failed."""
    line = (entry.get("failure") or {}).get("line")
    if entry.get("ok"):
        return done, "ok"
    return (f"failed at line {line}" if line else "failed"), "failed"


def file_rows(
    apply: dict[str, Any], not_attempted: list[str] | None = None
) -> list[dict[str, Any]]:
    """One row per migration file: applied, failed at line N, or not attempted."""
    rows = []
    for f in apply.get("files") or []:
        failure = f.get("failure") or {}
        status, state = outcome(f, done="applied")
        rows.append(
            {
                "filename": f.get("filename", ""),
                "status": status,
                "state": state,
                "statements": f.get("statements"),
                "time": duration_text(f.get("seconds")),
                "message": failure.get("message", ""),
                "notes": list(f.get("notes") or []),
            }
        )
    for name in not_attempted if not_attempted is not None else apply.get("not_attempted") or []:
        rows.append(
            {
                "filename": name,
                "status": "not attempted",
                "state": "skipped",
                "statements": None,
                "time": "",
                "message": "",
                "notes": [],
            }
        )
    return rows


def _describe_change(diff: Any) -> list[str]:
    """What changed inside one object, as short phrases ("columns added: email")."""
    if not isinstance(diff, dict):
        return []
    if set(diff) <= {"before", "after"}:
        return [f"{_short(diff.get('before'))} → {_short(diff.get('after'))}"]
    phrases = []
    for key in diff.get("added") or {}:
        phrases.append(f"{key} added")
    for key in diff.get("removed") or {}:
        phrases.append(f"{key} removed")
    for key, inner in (diff.get("changed") or {}).items():
        if isinstance(inner, dict) and set(inner) <= {"before", "after"}:
            phrases.append(f"{key}: {_short(inner.get('before'))} → {_short(inner.get('after'))}")
        elif isinstance(inner, dict):
            names = [*(inner.get("added") or {}), *(inner.get("removed") or {})]
            said = [
                (how, ", ".join(found))
                for how, found in (
                    ("added", list(inner.get("added") or {})),
                    ("removed", list(inner.get("removed") or {})),
                    ("changed", [n for n in inner.get("changed") or {} if n not in names]),
                )
                if found
            ]  # in words ("columns added: phone"), not "+ phone, ~ amount"
            phrases += [f"{key} {how}: {found}" for how, found in said] or [f"{key} changed"]
        else:
            phrases.append(f"{key} changed")
    return phrases


def _short(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "…"


def schema_changes(changes: dict[str, Any]) -> list[dict[str, Any]]:
    """The catalog's changes by category: what was added, changed (and how), removed."""
    out = []
    for category, label in CATEGORY_LABELS.items():
        diff = changes.get(category)
        if not diff:
            continue
        changed = [
            {"name": name, "how": _describe_change(how)}
            for name, how in (diff.get("changed") or {}).items()
        ]
        out.append(
            {
                "label": label,
                "added": list(diff.get("added") or []),
                "changed": changed,
                "removed": list(diff.get("removed") or []),
            }
        )
    return out


def failure_view(first: dict[str, Any] | None) -> dict[str, Any] | None:
    """An ApplyFailure's dict as _failure.html shows it: what, what to do, the statement."""
    if not first:
        return None
    return {
        "description": first.get("description") or first.get("message", ""),
        "advice": first.get("advice", ""),
        "statement": first.get("statement_text", ""),
        "hint": first.get("hint"),
        "detail": first.get("detail"),
        "environment_gap": bool(first.get("environment_gap")),
    }


def present_dry_run(result: dict[str, Any]) -> dict[str, Any]:
    apply = result.get("apply") or {}
    staging = result.get("staging") or {}
    copy = result.get("copy") or {}
    return {
        "notes": list(result.get("notes") or []),
        "basis": result.get("basis", ""),
        "staging": staging,
        "pending": list(result.get("pending") or []),
        "files": file_rows(apply),
        "total_time": duration_text(apply.get("seconds", result.get("seconds"))),
        "failure": failure_view(result.get("first_failure")),
        "changes": schema_changes(result.get("catalog_changes") or {}),
        "tables_without_rls": list(result.get("tables_without_rls") or []),
        "new_tables_without_rls": list(result.get("new_tables_without_rls") or []),
        "remote_only": list(staging.get("remote_only") or []),
        # Applied files whose statements differ from what the target recorded.
        "history_changed": [c.get("message", "") for c in staging.get("changed") or []],
        "copy_errors": [str(e) for e in copy.get("errors") or []],
        "pg_dump": copy.get("pg_dump", ""),
        "with_data": copy.get("with_data"),
        "scratch_version": (result.get("scratch") or {}).get("server_version", ""),
    }


def present_apply(result: dict[str, Any]) -> dict[str, Any]:
    apply = result.get("apply") or {}
    return {
        "target": result.get("target", ""),
        "refused": result.get("refused"),
        "files": file_rows(apply, result.get("not_attempted")),
        "total_time": duration_text(apply.get("seconds", result.get("seconds"))),
        "failure": failure_view(result.get("first_failure") or apply.get("first_failure")),
        "applied_before": list(result.get("applied_before") or []),
        "newest_before": result.get("newest_applied_before"),
        "newest_after": result.get("newest_applied_after"),
        "remote_only": list(result.get("remote_only") or []),
        "approved_digest": result.get("approved_digest", ""),
    }


def present_drift(result: dict[str, Any]) -> dict[str, Any]:
    """What the target has that its migrations do not build, and the other way round."""
    rebuild = result.get("rebuild") or {}
    changed_by_category = result.get("changed") or {}
    categories = []
    for category, label in CATEGORY_LABELS.items():
        only_target = list((result.get("only_in_staging") or {}).get(category) or [])
        only_files = list((result.get("only_in_migrations") or {}).get(category) or [])
        changed = [
            {"name": name, "how": _describe_change(how)}
            for name, how in (changed_by_category.get(category) or {}).items()
        ]
        if only_target or only_files or changed:
            categories.append(
                {"label": label, "only_target": only_target, "only_files": only_files,
                 "changed": changed}
            )  # fmt: skip
    return {
        "notes": list(result.get("notes") or []),
        "categories": categories,
        "rebuilt": file_rows(rebuild),
        "failure": failure_view(rebuild.get("first_failure")),
        "remote_only": list(result.get("remote_only") or []),
    }
