"""The refusals every checklist service raises: messages a person can act on."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError


class ChecklistError(ValidationError):
    """A refusal the user can act on."""


class AlreadyDone(ChecklistError):
    """The change was made already (a second click, a second person, a stale form)."""


class ChangedSinceOpened(ChecklistError):
    """The release is no longer what the person saw: a sign-off, a waiver or a break-glass
    is for the digest the page showed. ``changes`` says what changed, in words."""

    def __init__(self, message: str, changes: dict[str, list[str]]) -> None:
        self.changes = changes
        super().__init__(message)

    @property
    def files_changed(self) -> bool:
        return bool(self.changes.get("files") or self.changes.get("commit"))


def when(at: Any) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else "an earlier time"
