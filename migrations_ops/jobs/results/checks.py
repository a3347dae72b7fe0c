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
