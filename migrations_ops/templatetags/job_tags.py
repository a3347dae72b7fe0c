"""Template filters for the job pages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import template

from migrations_ops.jobs.kinds import short_label
from migrations_ops.jobs.output import WITHHELD, may_read_production_rows, summary_for
from migrations_ops.jobs.scrub import scrub_paths as _scrub_paths

register = template.Library()


@register.filter
def duration(value: timedelta | None) -> str:
    """3 s, 2 min 05 s, 1 h 02 min; an empty string for no duration."""
    if value is None:
        return ""
    seconds = max(0, int(value.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@register.filter
def scrub_paths(value: str | None) -> str:
    """No server path in what the page shows (``migrations_ops.jobs.scrub``)."""
    return _scrub_paths(str(value or ""))


@register.filter
def kind_short(kind: str) -> str:
    """A job kind's short name for a crowded table ("Risk"; ``migrations_ops.jobs.kinds``)."""
    return short_label(kind)


@register.filter
def job_summary(job: Any, reader: Any) -> str:
    """``job``'s summary as ``reader`` may read it: the portal's verdict alone for a job
    over production's rows read by someone who may not read them (``jobs.output``)."""
    return _scrub_paths(summary_for(reader, job))


@register.filter
def reads_production_rows(project: Any, reader: Any) -> bool:
    """Whether ``reader`` reads, in ``project`` (a project or its id), what a job over
    production's rows wrote, wherever it was copied (a backup's verification, a rollback
    plan's rehearsal): ``{% if b.project_id|reads_production_rows:request.user %}``."""
    return may_read_production_rows(reader, project)


@register.simple_tag
def withheld_reason() -> str:
    """Why a job's output is not shown (``jobs.output.WITHHELD``)."""
    return WITHHELD
