"""Fetching objects for a person: 404 when they may not see it, 403 when they may not act."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404

from release_portal.accounts.roles import Action, can, roles_in


def require(user: Any, action: Action, project: Any) -> None:
    """Raise 403 unless ``user`` may do ``action`` in ``project`` (whom they can already see)."""
    if not can(user, action, project):
        raise PermissionDenied(f"Your roles in {project} do not allow this ({action.value}).")


def get_project_for_user(user: Any, slug: str, action: Action | None = None) -> Any:
    from migrations_ops.models import Project

    project = get_object_or_404(Project, slug=slug)
    if not roles_in(user, project):
        raise Http404("No such project.")
    if action is not None:
        require(user, action, project)
    return project


def require_actor(actor: Any, action: Action, project: Any, text: str) -> None:
    """Services' check: a person needs ``action``; API tokens (whose scope the API checked)
    and the portal's own jobs pass."""
    from release_portal.audit.services import actor_of

    if actor_of(actor).kind == "user" and not can(actor, action, project):
        raise PermissionDenied(text)
