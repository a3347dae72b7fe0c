"""Template filters every page has (a builtin, see settings.TEMPLATES).

``{{ when|utc_time }}`` is how the portal writes an absolute time: "2026-12-05 14:03 UTC",
never raw ISO and never a ticking "N s ago" (a page reads the same until it changes).
"""

from __future__ import annotations

import datetime

from django import template
from django.utils.dateparse import parse_datetime
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.filter
def utc_time(value: object, seconds: bool = False) -> str:
    """``2026-12-05 14:03 UTC`` for a datetime (aware or naive-as-UTC) or its ISO text (as
    the gate's answer carries it); "" for none."""
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is None:
            return value
        value = parsed
    if not isinstance(value, datetime.datetime):
        if isinstance(value, datetime.date):
            return value.isoformat()
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(datetime.UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


@register.filter
def breakable(value: object) -> SafeString:
    """``{{ file|breakable }}``: the text escaped, with a line-break opportunity after each
    ``_`` and ``/``, so a long file name wraps at its words inside a narrow table column
    instead of widening the table past its box (or breaking at any letter)."""
    text = str(escape(value))
    return mark_safe(text.replace("_", "_<wbr>").replace("/", "/<wbr>"))  # noqa: S308 (escaped above)
