"""Fetching objects for a person: 404 when they may not see it, 403 when they may not act."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404

from release_portal.accounts.roles import ALLOWED, Action, Role, can, roles_in


def require(user: Any, action: Action, project: Any) -> None:
    """Raise 403 unless ``user`` may do ``action`` in ``project`` (whom they can already see)."""
    if not can(user, action, project):
        raise PermissionDenied(refusal(action, project))


def refusal(action: Action, project: Any) -> str:
    """Why someone may not act, in words they can act on: who may (never the action's code)."""
    allowed = [role.label for role in Role if role in ALLOWED[action]]
    who = allowed[0] if len(allowed) == 1 else ", ".join(allowed[:-1]) + " or " + allowed[-1]
    return f"Your roles in {project} do not allow this: it needs the role {who}."


def get_for_user[M: Model](
    user: Any, queryset: QuerySet[M], *, what: str, action: Action | None = None, **lookup: Any
) -> M:
    """The object of ``queryset`` matching ``lookup`` if ``user`` holds a role in its project,
    else 404 "No such <what>." (never 403, so other projects' ids stay unknown); then 403
    unless ``user`` may do ``action`` there. Every page and action fetches through this."""
    from migrations_ops.models import Project

    obj = queryset.filter(**lookup).order_by().first()
    if obj is None:
        raise Http404(f"No such {what}.")
    project = obj if isinstance(obj, Project) else obj.project_id  # type: ignore[attr-defined]
    if not roles_in(user, project):
        raise Http404(f"No such {what}.")
    if action is not None:
        require(user, action, obj if isinstance(obj, Project) else obj.project)  # type: ignore[attr-defined]
    return obj


def get_project_for_user(user: Any, slug: str, action: Action | None = None) -> Any:
    from migrations_ops.models import Project

    return get_for_user(user, Project.objects.all(), what="project", action=action, slug=slug)


def require_actor(actor: Any, action: Action, project: Any, text: str) -> None:
    """Services' check: a person needs ``action``; API tokens (whose scope the API checked)
    and the portal's own jobs pass."""
    from release_portal.audit.services import actor_of

    if actor_of(actor).kind == "user" and not can(actor, action, project):
        raise PermissionDenied(text)
