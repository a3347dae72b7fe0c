"""The view of a kind without one of its own: every field, shaped by what it holds."""

from __future__ import annotations

from typing import Any

from migrations_ops.jobs.present import present_result


def present(result: dict[str, Any]) -> dict[str, Any]:
    return {"fields": present_result(result)}
