"""Checklist text as people read it: the runbook's Markdown, sanitised by the same
renderer as the runbook page, with the ``@<name>`` placeholder replaced by the release
owner's name."""

from __future__ import annotations

from functools import lru_cache

from django import template
from django.utils.safestring import SafeData, SafeString

from checklists.runbooks.render import render_inline

register = template.Library()

PLACEHOLDER = "@<name>"


@lru_cache(maxsize=2048)
def _rendered(text: str, owner: str) -> SafeString:
    if owner:
        text = text.replace(PLACEHOLDER, f"@{owner}")
    return render_inline(text)


@register.filter
def step_html(text: str, owner: str = "") -> SafeString:
    """``{{ item.step.text|step_html:release.owner.get_username }}``; HTML already rendered
    (a SafeString, e.g. a change-log sentence naming a step) is left as it is."""
    if isinstance(text, SafeData):
        return SafeString(text)
    return _rendered(str(text), str(owner or ""))
