"""Who may do what, declared once.

Views, the API and templates all ask ``can(user, action, project)``; object rules
(the owning role of a checklist step, the release owner's sign-off) sit beside it in
``checklists.rules`` and build on the same role lookup.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.db import models

if TYPE_CHECKING:
    from migrations_ops.models import Project


class Role(models.TextChoices):
    PLATFORM_LEAD = "platform_lead", "Platform lead"
    RELEASE_ENGINEER = "release_engineer", "Release engineer"
    QA_LEAD = "qa_lead", "QA lead"
    SRE = "sre", "SRE / on-call"
    AUDITOR = "auditor", "Auditor"


class Action(StrEnum):
    VIEW = "view"  # read the project's releases, jobs, backups and change log
    MANAGE_MEMBERS = "manage_members"
    MANAGE_PROJECT = "manage_project"  # settings, targets, tokens, freeze windows, webhooks
    PUBLISH_RUNBOOK = "publish_runbook"
    CREATE_RELEASE = "create_release"
    EDIT_RELEASE = "edit_release"  # upload migrations, move to a new commit, cancel
    RUN_CHECKS = "run_checks"  # pre-flight, dry-run and RLS jobs
    # Apply jobs and deployment records. Release engineers deploy (README "Roles"): the
    # gate guards production, not the role that presses the button.
    DEPLOY = "deploy"
    MANAGE_BACKUPS = "manage_backups"  # capture, verify, delete backups; snapshot refs
    DOWNLOAD_BACKUP = "download_backup"
    MANAGE_ROLLBACKS = "manage_rollbacks"  # rollback plans and rehearsals
    MANAGE_INCIDENTS = "manage_incidents"
    EXPORT_AUDIT = "export_audit"
    BREAK_GLASS = "break_glass"


_ALL = frozenset(Role)
_LEAD = Role.PLATFORM_LEAD
_RE = Role.RELEASE_ENGINEER
_QA = Role.QA_LEAD
_SRE = Role.SRE
_AUD = Role.AUDITOR

ALLOWED: dict[Action, frozenset[Role]] = {
    Action.VIEW: _ALL,
    Action.MANAGE_MEMBERS: frozenset({_LEAD}),
    Action.MANAGE_PROJECT: frozenset({_LEAD}),
    Action.PUBLISH_RUNBOOK: frozenset({_LEAD}),
    Action.CREATE_RELEASE: frozenset({_LEAD, _RE}),
    Action.EDIT_RELEASE: frozenset({_LEAD, _RE}),
    Action.RUN_CHECKS: frozenset({_LEAD, _RE, _QA}),
    Action.DEPLOY: frozenset({_LEAD, _RE, _SRE}),
    Action.MANAGE_BACKUPS: frozenset({_LEAD, _SRE}),
    Action.DOWNLOAD_BACKUP: frozenset({_LEAD, _SRE}),
    Action.MANAGE_ROLLBACKS: frozenset({_LEAD, _SRE}),
    Action.MANAGE_INCIDENTS: frozenset({_LEAD, _SRE}),
    Action.EXPORT_AUDIT: frozenset({_LEAD, _AUD}),
    Action.BREAK_GLASS: frozenset({_LEAD}),
}
assert set(ALLOWED) == set(Action), "every action needs its roles"

# Who may be named a release's owner (web form and API, through release_create) and so
# give its final sign-off. Auditors change nothing: they never own, tick, waive or sign.
RELEASE_OWNER_ROLES: frozenset[Role] = frozenset({_LEAD, _RE})


def _project_id(project: Project | int) -> int:
    return project if isinstance(project, int) else project.pk


def roles_by_project(user: Any) -> dict[int, frozenset[Role]]:
    """All of a user's roles, one query per request (cached on the user object)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return {}
    cached = getattr(user, "_portal_roles", None)
    if cached is None:
        from release_portal.accounts.models import Membership

        found: dict[int, set[Role]] = {}
        names: dict[int, tuple[str, str]] = {}
        # The project's name and slug come along, so the page shell's project menu costs
        # no query of its own (it sorts them itself). No ORDER BY: the default ordering
        # would join the users table and sort, on every signed-in request, for nothing.
        rows = (
            Membership.objects.filter(user=user)
            .order_by()
            .values_list("project_id", "role", "project__name", "project__slug")
        )
        for project_id, role, name, slug in rows:
            found.setdefault(project_id, set()).add(Role(role))
            names[project_id] = (name, slug)
        cached = {pid: frozenset(roles) for pid, roles in found.items()}
        user._portal_roles = cached
        user._portal_project_names = names
    return cached


def project_names(user: Any) -> dict[int, tuple[str, str]]:
    """Name and slug of each project ``user`` has a role in (read with the roles)."""
    roles_by_project(user)
    return getattr(user, "_portal_project_names", {})


def roles_in(user: Any, project: Project | int) -> frozenset[Role]:
    return roles_by_project(user).get(_project_id(project), frozenset())


def has_role(user: Any, project: Project | int, roles: Iterable[Role]) -> bool:
    return bool(roles_in(user, project) & frozenset(roles))


def can(user: Any, action: Action | str, project: Project | int) -> bool:
    """The one permission check: may ``user`` do ``action`` in ``project``?"""
    return has_role(user, project, ALLOWED[Action(action)])


def visible_project_ids(user: Any) -> list[int]:
    return sorted(roles_by_project(user))


def forget_roles(user: Any) -> None:
    """Drop the per-request cache after memberships change."""
    if hasattr(user, "_portal_roles"):
        del user._portal_roles
    if hasattr(user, "_portal_project_names"):
        del user._portal_project_names


class ProjectAccess:
    """What a user may do in one project, for templates: ``{% if access.may.deploy %}``."""

    def __init__(self, user: Any, project: Project) -> None:
        self.user = user
        self.project = project
        self.roles = roles_in(user, project)
        self.may = {action.value: bool(self.roles & ALLOWED[action]) for action in Action}

    @property
    def role_labels(self) -> list[str]:
        return [role.label for role in Role if role in self.roles]
