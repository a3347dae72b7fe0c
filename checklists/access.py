"""Fetching releases for a person: 404 unless they hold a role in its project."""

from __future__ import annotations

from typing import Any

from checklists.models import Release
from release_portal.accounts.access import get_for_user
from release_portal.accounts.roles import Action


def get_release_for_user(
    user: Any, pk: int, action: Action | None = None, *, for_update: bool = False
) -> Release:
    """The release ``pk`` if ``user`` may see it (else 404); 403 if ``action`` is not allowed."""
    queryset = Release.objects.select_related("project", "owner", "runbook_version")
    if for_update:
        queryset = queryset.select_for_update(of=("self",))
    return get_for_user(user, queryset, what="release", action=action, pk=pk)
