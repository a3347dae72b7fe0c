"""Tests the project wrote, run by a job: the RLS/database tests and the check commands."""

from __future__ import annotations

import shlex
from typing import Any

from migrations_ops.jobs.results.migrations import file_rows


def _tap_counts(f: dict[str, Any]) -> tuple[int, int]:
    assertions = f.get("assertions") or []
    passed = sum(1 for a in assertions if a.get("passed"))
    return passed, len(assertions) - passed


def present_rls(result: dict[str, Any]) -> dict[str, Any]:
    """One row per test file: pass/fail from the file's own ``ok`` (a plain SQL file
    passes by running without an error and has no TAP), with its TAP counts."""
    rows = []
    for f in result.get("files") or []:
        passed, failed = _tap_counts(f)
        failing = [a for a in f.get("assertions") or [] if not a.get("passed")]
        rows.append(
            {
                "file": f.get("file", ""),
                "kind": "pgTAP" if f.get("kind") == "pgtap" else "plain SQL",
                "ok": bool(f.get("ok")),
                "planned": f.get("planned"),
                "passed": passed,
                "failed": failed,
                "time": f"{float(f.get('seconds') or 0):.2f} s",
                "problem": f.get("problem") or "",
                "failing": [
                    f"not ok {a.get('number')} - {a.get('description', '')}" for a in failing[:10]
                ],
            }
        )
    migrations = result.get("migrations") or {}
    return {
        "notes": list(result.get("notes") or []),
        "pgtap": result.get("pgtap"),
        "files": rows,
        "files_passed": sum(1 for r in rows if r["ok"]),
        "files_failed": sum(1 for r in rows if not r["ok"]),
        "assertions_passed": sum(r["passed"] for r in rows),
        "assertions_failed": sum(r["failed"] for r in rows),
        "migrations": file_rows(migrations) if not migrations.get("ok", True) else [],
        "migrations_applied": len(migrations.get("applied") or []),
    }


def present_commands(result: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for c in result.get("commands") or []:
        argv = c.get("argv") or []
        rows.append(
            {
                "command": shlex.join(str(a) for a in argv),
                "status": c.get("status", ""),
                "ok": c.get("status") == "passed",
                "exit_code": c.get("exit_code"),
                "time": f"{float(c.get('duration_seconds') or 0):.1f} s",
                "message": c.get("message", ""),
                "last_lines": list(c.get("last_lines") or []),
            }
        )
    return {
        "commands": rows,
        "timeout": result.get("timeout_seconds"),
        "notes": list(result.get("notes") or []),
    }
