"""Fetching releases for a person: 404 unless they hold a role in its project."""

from __future__ import annotations

from typing import Any

from django.http import Http404

from checklists.models import ChecklistItem, Release
from release_portal.accounts.access import get_for_user
from release_portal.accounts.roles import Action, roles_in


def get_release_for_user(
    user: Any, pk: int, action: Action | None = None, *, for_update: bool = False
) -> Release:
    """The release ``pk`` if ``user`` may see it (else 404); 403 if ``action`` is not allowed."""
    queryset = Release.objects.select_related("project", "owner", "runbook_version")
    if for_update:
        queryset = queryset.select_for_update(of=("self",))
    return get_for_user(user, queryset, what="release", action=action, pk=pk)


def item_for_user(user: Any, release_pk: int, item_pk: int) -> ChecklistItem:
    """Item ``item_pk`` of release ``release_pk`` as a reference for the item services
    (which read it, and its release, again with their locks), if ``user`` may see the
    release: else 404, as get_release_for_user. One small read: the release's project."""
    project_id = (
        ChecklistItem.objects.filter(pk=item_pk, release_id=release_pk)
        .values_list("release__project_id", flat=True)
        .first()
    )
    if project_id is None or not roles_in(user, project_id):
        # One message for both: another project's ids stay unknown.
        raise Http404("No such release.")
    return ChecklistItem(pk=item_pk, release_id=release_pk)
