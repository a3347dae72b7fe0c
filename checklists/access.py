"""Fetching releases for a person: 404 unless they hold a role in its project."""

from __future__ import annotations

from typing import Any

from django.http import Http404

from checklists.models import Release
from release_portal.accounts.access import require
from release_portal.accounts.roles import Action, roles_in


def get_release_for_user(
    user: Any, pk: int, action: Action | None = None, *, for_update: bool = False
) -> Release:
    """The release ``pk`` if ``user`` may see it (else 404); 403 if ``action`` is not allowed."""
    queryset = Release.objects.select_related("project", "owner", "runbook_version")
    if for_update:
        queryset = queryset.select_for_update(of=("self",))
    release = queryset.filter(pk=pk).first()
    if release is None or not roles_in(user, release.project_id):
        raise Http404("No such release.")
    if action is not None:
        require(user, action, release.project)
    return release
