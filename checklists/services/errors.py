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


def content_changed_since(release: Any, seen_content: str | None) -> str:
    """Why the release's content (its files, the bundle's other files, its commit) is not
    what the person's page showed as ``seen_content`` (its content digest), or "" when it
    is, or when no page said (None). The one way a form opened earlier is told that the
    migrations changed under it: a tick, "not applicable" and an upload all ask here."""
    if seen_content is None or seen_content == release.content_digest:
        return ""
    by = release.migrations_uploaded_by
    upload = (
        f" (uploaded by {by.get_username()} at {when(release.migrations_uploaded_at)})"
        if by is not None
        else ""
    )
    return f"the migrations changed since you opened this page{upload}"
