"""Object rules beside the role table: who ticks a step, who signs, how a release moves."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Q

from checklists.models import ChecklistItem, Release, SignOff, StepOwner
from migrations_ops.analysis.gate_rule import needs_sre_signoff
from release_portal.accounts.roles import RELEASE_OWNER_ROLES, Role, roles_by_project, roles_in

S = Release.State

# The release's lifecycle. Services move it only along these edges, as facts arrive.
TRANSITIONS: dict[str, set[str]] = {
    S.DRAFT: {S.PREFLIGHT, S.READY, S.CANCELLED},
    S.PREFLIGHT: {S.DRAFT, S.READY, S.CANCELLED},
    S.READY: {S.PREFLIGHT, S.APPROVED, S.CANCELLED},
    S.APPROVED: {S.READY, S.PREFLIGHT, S.DEPLOYING, S.CANCELLED},
    # APPROVED: a deployment held before it touched production (a freeze window began
    # while it was queued): nothing changed, so the approval stands.
    S.DEPLOYING: {S.MONITORING, S.DEPLOYED, S.FAILED, S.APPROVED},
    S.MONITORING: {S.DEPLOYED, S.FAILED},
    S.FAILED: {S.ROLLED_BACK, S.DEPLOYING},
    S.DEPLOYED: set(),
    S.ROLLED_BACK: set(),
    S.CANCELLED: set(),
}
# States the checklist services recompute from facts; later states belong to deployment.
PRE_DEPLOY = {S.DRAFT, S.PREFLIGHT, S.READY, S.APPROVED}
# A release whose checklist can still change.
OPEN_FOR_CHANGES = PRE_DEPLOY


def can_transition(source: str, target: str) -> bool:
    return target in TRANSITIONS.get(source, set())


def owned_steps(roles: Iterable[Role]) -> list[str]:
    """The step owners a person holding ``roles`` in a project answers for: each of their
    roles' steps; a platform lead may tick any step but answers for the lead's own."""
    roles = set(roles)
    if Role.PLATFORM_LEAD in roles:
        return [Role.PLATFORM_LEAD.value]
    return [r.value for r in roles if r != Role.AUDITOR]


def can_tick(user: Any, item: ChecklistItem) -> bool:
    """The owning role ticks (or a platform lead); the release owner ticks the sign-off step."""
    if not getattr(user, "is_authenticated", False):
        return False
    release = item.release
    if item.step.owner == StepOwner.RELEASE_OWNER:
        return may_own(user, release)
    roles = roles_in(user, release.project_id)
    return Role.PLATFORM_LEAD in roles or item.step.owner in owned_steps(roles)


def items_owned_by(user: Any) -> Q:
    """Items (``ChecklistItem`` filter) whose step ``user`` answers for, in every project
    they belong to: ``owned_steps`` as a query, for "awaiting you"."""
    owned = Q(pk__in=[])
    for project_id, project_roles in roles_by_project(user).items():
        owned |= Q(release__project_id=project_id, step__owner__in=owned_steps(project_roles))
    return owned


def signoff_kinds_required(release: Release) -> list[str]:
    kinds: list[str] = []
    if release.project.require_qa_signoff:
        kinds.append(SignOff.Kind.QA_LEAD)
    if release.project.require_sre_signoff or needs_sre_signoff(release):
        kinds.append(SignOff.Kind.SRE)
    kinds.append(SignOff.Kind.RELEASE_OWNER)  # always last
    return kinds


def may_own(user: Any, release: Release) -> bool:
    """``user`` is the release's owner and still holds a role that may own it (a lead or
    release engineer who became an auditor no longer signs)."""
    if not getattr(user, "is_authenticated", False) or user.pk != release.owner_id:
        return False
    return bool(roles_in(user, release.project_id) & RELEASE_OWNER_ROLES)


def can_sign_as(user: Any, release: Release, kind: str) -> bool:
    if kind == SignOff.Kind.RELEASE_OWNER:
        return may_own(user, release)
    return Role(kind) in roles_in(user, release.project_id)


def single_platform_lead(release: Release) -> bool:
    """The project has exactly one platform lead (waivers then go to the release owner)."""
    from release_portal.accounts.models import Membership

    return (
        Membership.objects.filter(project_id=release.project_id, role=Role.PLATFORM_LEAD).count()
        == 1
    )


def can_approve_waiver(user: Any, release: Release, asked_by_id: int) -> bool:
    """A second person approves a waiver: a platform lead other than the one asking; where
    the project has a single platform lead, the release owner too. Never an auditor alone,
    never the asker."""
    if not getattr(user, "is_authenticated", False) or user.pk == asked_by_id:
        return False
    roles = roles_in(user, release.project_id)
    if Role.PLATFORM_LEAD in roles:
        return True
    return may_own(user, release) and single_platform_lead(release)
