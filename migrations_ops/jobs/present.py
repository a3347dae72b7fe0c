"""Jobs shaped for people: a structured result as tables, lists and key/value pairs, and
what a click that queued a job says."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.http import HttpRequest

from migrations_ops.models import Job

MAX_ROWS = 200


@dataclass
class ResultField:
    label: str
    text: str | None = None  # a scalar
    items: list[str] = field(default_factory=list)  # a list of scalars
    pairs: list[tuple[str, str]] = field(default_factory=list)  # a flat object
    headers: list[str] = field(default_factory=list)  # a list of objects, as a table
    rows: list[list[str]] = field(default_factory=list)
    more: int = 0  # rows not shown
    raw: str | None = None  # anything deeper, as indented JSON


def _label(key: str) -> str:
    return key.replace("_", " ").capitalize()


def _scalar(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):  # the page shows no JSON: the raw result has it
        return f"{len(value)} field(s): see the raw result"
    if isinstance(value, list):
        return f"{len(value)} item(s): see the raw result"
    return str(value)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def present_field(key: str, value: Any) -> ResultField:
    out = ResultField(label=_label(key))
    if _is_scalar(value):
        out.text = _scalar(value)
    elif isinstance(value, list) and all(_is_scalar(v) for v in value):
        out.items = [_scalar(v) for v in value[:MAX_ROWS]]
        out.more = max(0, len(value) - MAX_ROWS)
        if not value:
            out.text = "none"
    elif isinstance(value, list) and all(isinstance(v, dict) for v in value):
        headers: list[str] = []
        for row in value[:MAX_ROWS]:
            headers += [k for k in row if k not in headers]
        out.headers = [_label(h) for h in headers]
        out.rows = [[_scalar(row.get(h)) for h in headers] for row in value[:MAX_ROWS]]
        out.more = max(0, len(value) - MAX_ROWS)
    elif isinstance(value, dict) and all(_is_scalar(v) for v in value.values()):
        out.pairs = [(_label(str(k)), _scalar(v)) for k, v in value.items()]
    else:
        out.raw = json.dumps(value, indent=2, default=str)  # kept for callers; the page links it
    return out


def present_result(result: dict[str, Any] | None) -> list[ResultField]:
    return [present_field(str(k), v) for k, v in (result or {}).items()]


def job_queued_message(request: HttpRequest, job: Job, queued: str) -> None:
    """Tell the person what their click started: ``queued`` for a new job, or that the
    same job was already queued or running (nothing was started twice)."""
    if job.already_active:
        messages.info(request, f"already running: job #{job.pk}")
    else:
        messages.success(request, queued)
