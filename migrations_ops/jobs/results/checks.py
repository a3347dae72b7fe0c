"""The runbook's quick checks with a view of their own."""

from __future__ import annotations

from typing import Any


def present_secrets(result: dict[str, Any]) -> dict[str, Any]:
    """Each required name, set or not: never a value (the job has none to show)."""
    present = set(result.get("present") or [])
    empty = set(result.get("empty") or [])
    rows = [
        {
            "name": name,
            "state": "set" if name in present else ("empty" if name in empty else "missing"),
        }
        for name in result.get("required") or []
    ]
    return {"source": result.get("source", ""), "names": rows}


def _problems(items: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [
        {"message": i.get("message", ""), "code": i.get("code", ""), "files": i.get("filenames")}
        for i in items or []
    ]


def present_order(result: dict[str, Any]) -> dict[str, Any]:
    """The migration files in the CLI's order, what it skips, and what is wrong."""
    history = result.get("history") or {}
    return {
        "files": [
            {"filename": f.get("filename", ""), "version": f.get("version", "")}
            for f in result.get("files") or []
        ],
        "skipped": [
            {"filename": s.get("filename", ""), "reason": s.get("reason", "")}
            for s in result.get("skipped") or []
        ],
        "errors": _problems(result.get("errors")),
        "warnings": _problems(result.get("warnings")),
        "target": history.get("target"),
        "applied": list(history.get("applied") or []),
        "would_apply": list(history.get("cli_would_apply") or []),
        "cli_refusal": history.get("cli_refusal"),
    }


def present_pending(result: dict[str, Any]) -> dict[str, Any]:
    """A target's history against the local files: applied, pending, and what is off."""
    return {
        "target": result.get("target", ""),
        "newest": result.get("newest_applied"),
        "applied": [
            {"version": a.get("version", ""), "filename": a.get("filename", "")}
            for a in result.get("applied") or []
        ],
        "pending": [
            {"filename": p.get("filename", ""), "older": bool(p.get("older_than_newest_applied"))}
            for p in result.get("pending") or []
        ],
        "remote_only": [
            f"{r.get('version', '')} ({r.get('name') or 'no name'})"
            for r in result.get("remote_only") or []
        ],
        "changed": [c.get("message", "") for c in result.get("changed") or []],
        "not_recorded": [
            n.get("filename") or n.get("version", "") for n in result.get("not_recorded") or []
        ],
    }


def present_fixtures(result: dict[str, Any]) -> dict[str, Any]:
    with_rls = list(result.get("tables_with_rls") or [])
    untested = set(result.get("tables_with_rls_without_tests") or [])
    return {
        "tables": [{"name": t, "tested": t not in untested} for t in with_rls],
        "exposed_without_rls": list(result.get("exposed_tables_without_rls") or []),
        "policies_not_mentioned": list(result.get("policies_not_mentioned") or []),
        "references_unknown": list(result.get("references_unknown") or []),
        "test_files": list(result.get("test_files") or []),
        "policies": len(result.get("policies") or []),
        "notes": list(result.get("notes") or []),
    }
