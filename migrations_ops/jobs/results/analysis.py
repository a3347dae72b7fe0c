"""The risk and access jobs' own results on the job page (the release's card adds the
backup and rollback plan, and the RLS tests' coverage: migrations_ops.analysis)."""

from __future__ import annotations

from typing import Any

from migrations_ops.jobs.results.migrations import schema_changes
from migrations_ops.pg import risk_report


def present_risk(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "risk": {
            "job": None,
            "level": result["level"],
            "reasons": result.get("reasons", []),
            "hazards": result.get("hazards", 0),
            "statements": risk_report.hazards_first(result),
            "data_loss": risk_report.loss_ledger(result),
            "schema_changes": schema_changes(result.get("catalog_changes") or {}),
            "schema_change": result.get("catalog_summary", []),
            "notes": result.get("notes", []),
        }
    }


def present_access(result: dict[str, Any]) -> dict[str, Any]:
    lints = result.get("lints") or {}
    return {
        "matrix": {
            "job": None,
            "changes": result.get("changes", []),
            "change_lines": result.get("change_lines", []),
            "principals": result.get("principals", []),
            "relations": result.get("relations", []),
            "lints_new": lints.get("new", []),
            "lints_fixed": lints.get("resolved", []),
            "method": result.get("method", ""),
            "notes": result.get("notes", []),
            "exercised_note": "Which cells the RLS tests exercised: see the release's "
            "“What this release does” card.",
        }
    }
