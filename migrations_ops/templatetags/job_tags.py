"""Template filters for the job pages."""

from __future__ import annotations

from datetime import timedelta

from django import template

from migrations_ops.jobs.kinds import short_label
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
