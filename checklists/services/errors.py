"""The refusals every checklist service raises: messages a person can act on."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError


class ChecklistError(ValidationError):
    """A refusal the user can act on."""


class AlreadyDone(ChecklistError):
    """The change was made already (a second click, a second person, a stale form)."""


def when(at: Any) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else "an earlier time"
