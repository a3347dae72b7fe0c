"""Object rules beside the role table: who ticks a step, who signs, how a release moves."""

from __future__ import annotations

from typing import Any

from checklists.models import ChecklistItem, Release, SignOff, StepOwner
from release_portal.accounts.roles import Role, roles_in

S = Release.State

# The release's lifecycle. Services move it only along these edges, as facts arrive.
TRANSITIONS: dict[str, set[str]] = {
    S.DRAFT: {S.PREFLIGHT, S.READY, S.CANCELLED},
    S.PREFLIGHT: {S.DRAFT, S.READY, S.CANCELLED},
    S.READY: {S.PREFLIGHT, S.APPROVED, S.CANCELLED},
    S.APPROVED: {S.READY, S.PREFLIGHT, S.DEPLOYING, S.CANCELLED},
    S.DEPLOYING: {S.MONITORING, S.DEPLOYED, S.FAILED},
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


def can_tick(user: Any, item: ChecklistItem) -> bool:
    """The owning role ticks (or a platform lead); the release owner ticks the sign-off step."""
    if not getattr(user, "is_authenticated", False):
        return False
    release = item.release
    if item.step.owner == StepOwner.RELEASE_OWNER:
        return user.pk == release.owner_id
    roles = roles_in(user, release.project_id)
    return Role.PLATFORM_LEAD in roles or Role(item.step.owner) in roles


def signoff_kinds_required(release: Release) -> list[str]:
    kinds: list[str] = []
    if release.project.require_qa_signoff:
        kinds.append(SignOff.Kind.QA_LEAD)
    if release.project.require_sre_signoff:
        kinds.append(SignOff.Kind.SRE)
    kinds.append(SignOff.Kind.RELEASE_OWNER)  # always last
    return kinds


def can_sign_as(user: Any, release: Release, kind: str) -> bool:
    if kind == SignOff.Kind.RELEASE_OWNER:
        return user.pk == release.owner_id
    return Role(kind) in roles_in(user, release.project_id)
