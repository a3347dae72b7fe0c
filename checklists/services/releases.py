"""Creating and cancelling a release, and naming its owner.

Each service is keyword-only and one transaction, and writes its AuditEvent inside it.
Views, the API, tasks and management commands all call these.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction

from checklists import rules
from checklists.models import ChecklistItem, Evidence, Release, RunbookVersion, SignOff
from checklists.runbooks.selectors import latest_published_version, runbook_lint_evidence_summary
from checklists.services.errors import ChecklistError
from checklists.services.items import evidence_add, items_for_evidence
from checklists.services.state import (
    keep_digest_snapshot,
    refresh_digests,
    release_transition,
    withdraw_signoffs,
)
from migrations_ops.models import Project
from release_portal.accounts.roles import RELEASE_OWNER_ROLES, Action, can, roles_in
from release_portal.audit.services import Actor, audit_record


def _latest_published(project: Any) -> RunbookVersion:
    version = latest_published_version(project)
    if version is None:
        raise ChecklistError(
            f"{project} has no published runbook yet: a platform lead imports and publishes "
            "one on the Runbooks page first."
        )
    return version


def normalise_sha(commit_sha: str) -> str:
    sha = (commit_sha or "").strip().lower()
    if not re.fullmatch(r"[0-9a-f]{40}", sha):
        raise ChecklistError(
            f"{commit_sha[:60]!r} is not a commit SHA: give all 40 hexadecimal characters "
            "(`git rev-parse HEAD`)."
        )
    return sha


# --- creating a release ------------------------------------------------------------------


class ReleaseExists(ChecklistError):
    """The project already has a release of this commit (cancelled ones aside)."""

    def __init__(self, release: Release) -> None:
        self.release = release
        super().__init__(
            f"Release #{release.pk} ({release.title}) is already the release of commit "
            f"{release.commit_sha[:12]}: open it, or cancel it first to start again."
        )


class OwnerNotMember(ChecklistError):
    pass


def release_of_commit(project: Any, commit_sha: str) -> Release | None:
    """The project's release of ``commit_sha`` (a cancelled one does not count)."""
    return (
        Release.objects.select_related("project", "owner")
        .filter(project=project, commit_sha=commit_sha)
        .exclude(state=Release.State.CANCELLED)
        .order_by("-created_at")
        .first()
    )


@transaction.atomic
def release_create(
    *,
    project: Any,
    title: str,
    owner: Any,
    commit_sha: str,
    created_by: Any,
    planned_for: date | None = None,
) -> Release:
    """A release of ``commit_sha`` pinning the latest published runbook, one item per step.

    One release per commit and project: ReleaseExists (carrying it) when there is one
    already, checked under the project's row lock, so two requests at once (CI retrying,
    a person and CI) make one release.
    """
    sha = normalise_sha(commit_sha)
    title = title.strip()
    if not title:
        raise ChecklistError("Give the release a title.")
    Project.objects.select_for_update().filter(pk=project.pk).first()
    existing = release_of_commit(project, sha)
    if existing is not None:
        raise ReleaseExists(existing)
    if owner is None or not roles_in(owner, project):
        raise OwnerNotMember(
            f"{owner or 'Nobody'} is not a member of {project}: name a platform lead or release "
            "engineer of the project as the release's owner."
        )
    if not roles_in(owner, project) & RELEASE_OWNER_ROLES:
        raise OwnerNotMember(
            f"{owner} is not a platform lead or release engineer of {project}: only they own "
            "a release (an auditor, a QA lead or an SRE does not)."
        )
    version = _latest_published(project)
    release = Release.objects.create(
        project=project,
        title=title[:200],
        owner=owner,
        commit_sha=sha,
        planned_for=planned_for,
        runbook_version=version,
        created_by=created_by if getattr(created_by, "is_authenticated", False) else None,
    )
    ChecklistItem.objects.bulk_create(
        ChecklistItem(release=release, step=step) for step in version.steps.order_by("position")
    )
    _attach_runbook_lint(release, version)
    keep_digest_snapshot(release, refresh_digests(release))
    release.save(update_fields=["content_digest", "digest"])
    audit_record(
        actor=created_by,
        action="release.create",
        obj=release,
        data={
            "title": release.title,
            "commit": sha,
            "owner": owner.get_username(),
            "runbook_version": version.number,
            "planned_for": planned_for,
        },
    )
    return release


def _attach_runbook_lint(release: Release, version: RunbookVersion) -> None:
    """The pinned version's lint result is evidence for the "runbook review" step."""
    items = items_for_evidence(release, "runbook_lint")
    if not items:
        return
    lint = runbook_lint_evidence_summary(version)
    for item in items:
        evidence_add(
            item=item,
            actor=Actor.system("runbook lint"),
            kind=Evidence.Kind.RUNBOOK_LINT,
            status=lint["status"],
            summary=lint["summary"],
            data=lint["data"],
            content_digest="",
        )


@transaction.atomic
def release_cancel(*, release: Release, user: Any, reason: str) -> None:
    if not can(user, Action.EDIT_RELEASE, release.project_id):
        raise PermissionDenied("Only platform leads and release engineers cancel releases.")
    if not reason.strip():
        raise ChecklistError("Say why the release is cancelled.")
    release = Release.objects.select_for_update().get(pk=release.pk)
    release_transition(release=release, to=Release.State.CANCELLED, actor=user, reason=reason)


def owner_candidates(release: Release) -> list[Any]:
    """Who may be named the release's owner: the project's active platform leads and
    release engineers, the current owner left out, by username."""
    from release_portal.accounts.models import Membership

    members = (
        Membership.objects.filter(
            project_id=release.project_id, role__in=RELEASE_OWNER_ROLES, user__is_active=True
        )
        .exclude(user_id=release.owner_id)
        .select_related("user")
        .order_by("user__username")
    )
    return list({m.user_id: m.user for m in members}.values())


@transaction.atomic
def release_change_owner(*, release: Release, user: Any, new_owner: Any, reason: str) -> int:
    """Name ``new_owner`` the release's owner (who gives its final sign-off): a platform
    lead does, with a reason, while the release is open, for an owner away, one who lost
    their role, or the uploader a project does not let sign. The previous owner's final
    sign-off goes stale (it was theirs to give); returns how many sign-offs went stale."""
    if not can(user, Action.MANAGE_PROJECT, release.project_id):
        raise PermissionDenied("Only a platform lead names another owner for a release.")
    if not reason.strip():
        raise ChecklistError("Say why the owner changes: it goes into the change log.")
    release = (
        Release.objects.select_for_update().select_related("owner", "project").get(pk=release.pk)
    )
    if release.state not in rules.OPEN_FOR_CHANGES:
        raise ChecklistError(
            f"The release is {release.get_state_display().lower()}: its owner no longer changes."
        )
    if new_owner is None or not roles_in(new_owner, release.project_id) & RELEASE_OWNER_ROLES:
        raise ChecklistError(
            f"{new_owner or 'Nobody'} is not a platform lead or release engineer of "
            f"{release.project}: only they own releases."
        )
    if new_owner.pk == release.owner_id:
        raise ChecklistError(f"{new_owner} already owns this release.")
    other = release.signoffs.filter(user=new_owner).exclude(kind=SignOff.Kind.RELEASE_OWNER)
    if (signed := other.first()) is not None:
        raise ChecklistError(
            f"{new_owner} signed this release as {signed.get_kind_display()}: one person gives "
            "at most one sign-off per release, so they cannot give the owner's. Name someone "
            "else."
        )
    if release.project.uploader_may_not_sign and release.migrations_uploaded_by_id == new_owner.pk:
        raise ChecklistError(
            f"{new_owner} uploaded these migrations, and {release.project} asks someone else "
            "to give the final sign-off: name someone else."
        )
    before = release.owner
    release.owner = new_owner
    release.save(update_fields=["owner", "updated_at"])
    audit_record(
        actor=user,
        action="release.owner_change",
        obj=release,
        data={"from": before.get_username(), "to": new_owner.get_username(), "reason": reason},
    )
    owners = release.signoffs.filter(kind=SignOff.Kind.RELEASE_OWNER, stale_at__isnull=True)
    return withdraw_signoffs(
        owners.select_related("user"), release=release, actor=user,
        reason=f"the release's owner changed from {before} to {new_owner}",
    )  # fmt: skip
