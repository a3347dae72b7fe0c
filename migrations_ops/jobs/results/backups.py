"""A backup as its manifest, and what its restore check found."""

from __future__ import annotations

from typing import Any

from migrations_ops.pg.sizes import size_text


def _tool(value: Any) -> str:
    if isinstance(value, dict):
        return " ".join(str(v) for v in (value.get("path"), value.get("version")) if v)
    return str(value or "")


def present_backup(result: dict[str, Any]) -> dict[str, Any]:
    tables = [
        {
            "name": f"{t.get('schema')}.{t.get('table')}",
            "rows": t.get("rows"),
            "rls": bool(t.get("rls_enabled")),
            "policies": t.get("policies"),
        }
        for t in result.get("tables") or []
    ]
    return {
        "file": result.get("file", ""),
        "format": result.get("format", ""),
        "size": size_text(result.get("size") or 0),
        "sha256": result.get("sha256", ""),
        "target": result.get("target", ""),
        "schemas": list(result.get("schemas") or []),
        "server_version": result.get("server_version", ""),
        "pg_dump": _tool(result.get("pg_dump")),
        "started_at": result.get("started_at", ""),
        "finished_at": result.get("finished_at", ""),
        "applied_versions": list(result.get("applied_versions") or []),
        "pending_versions": result.get("pending_versions"),
        "roles": list(result.get("roles") or []),
        "tables": tables,
        "total_rows": sum(int(t["rows"] or 0) for t in tables),
        "settings": [
            {
                "scope": s.get("scope", ""),
                "role": s.get("role") or "",
                "name": s.get("name", ""),
                "value": s.get("value", ""),
            }
            for s in result.get("settings") or []
        ],
    }


# What stopped a restore check before it compared anything, by the problem it recorded.
NOT_COMPARED = {"file": "backup file failed its check", "restore": "restore failed"}


def _verdict(verification: dict[str, Any], differences: list[Any]) -> str:
    if verification.get("ok"):
        return "restored and matches"
    for d in differences:
        problem = d.get("problem") if isinstance(d, dict) else None
        if problem in NOT_COMPARED:
            return NOT_COMPARED[problem]
    return "does not match"


def present_restore_check(result: dict[str, Any]) -> dict[str, Any]:
    verification = result.get("verification") or {}
    differences = list(verification.get("differences") or [])
    return {
        "ok": verification.get("ok"),
        "verdict": _verdict(verification, differences),
        "summary": verification.get("summary", ""),
        "tables_checked": verification.get("tables_checked"),
        "rows_checked": verification.get("rows_checked"),
        "time": f"{float(verification.get('duration_s') or 0):.1f} s",
        "restore_tool": _tool(verification.get("restore_tool")),
        "differences": differences,
        "manifest": result.get("manifest_path", ""),
        "verified_at": verification.get("verified_at", ""),
        **setup_lines(result),
    }


def setup_lines(result: dict[str, Any]) -> dict[str, list[str]]:
    """What ran in the database the production backup was restored into, and what did not
    (the release's fixtures never do: ``runners.restore_base``)."""
    setup = result.get("setup") or {}
    return {"ran": list(setup.get("ran") or []), "not_run": list(setup.get("not_run") or [])}
