"""Releases: create one for a commit (idempotent), list, read."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest
from ninja import Router, Status

from checklists.models import Release
from checklists.services.errors import ChecklistError
from checklists.services.releases import OwnerNotMember, ReleaseExists, release_create
from release_portal.accounts.models import Membership
from release_portal.accounts.roles import RELEASE_OWNER_ROLES
from release_portal.api import presenters
from release_portal.api.auth import project_for, release_for, require_scope
from release_portal.api.errors import ApiError
from release_portal.api.idempotency import run_once
from release_portal.api.schemas import (
    ERRORS,
    ErrorOut,
    Limit,
    ReleaseCreateIn,
    ReleaseId,
    ReleaseOut,
    ReleaseSummaryOut,
    Sha,
)
from release_portal.http import error_text

router = Router(tags=["releases"])


@router.post(
    "/projects/{slug}/releases",
    response={200: ReleaseSummaryOut, 201: ReleaseSummaryOut, ERRORS: ErrorOut},
    summary="Create the release of a commit (idempotent on project and commit)",
)
def create_release(request: HttpRequest, slug: str, payload: ReleaseCreateIn) -> Any:
    """The release for `commit_sha`: **201** when created, **200** with the existing one
    when the project already has a (not cancelled) release of that commit.

    Scope: `report` or `deploy`. The new release pins the latest published runbook."""
    token = require_scope(request, "report", "deploy")
    project = project_for(token, slug)
    sha = payload.commit_sha.lower()
    if not payload.title.strip():
        raise ApiError(422, "Give the release a title.")

    def run() -> tuple[int, Any]:
        owner = get_user_model().objects.filter(username=payload.owner, is_active=True).first()
        try:
            release = release_create(
                project=project, title=payload.title, owner=owner, commit_sha=sha,
                created_by=token, planned_for=payload.planned_for,
            )  # fmt: skip
        except ReleaseExists as e:
            return 200, presenters.release_summary(e.release)
        except OwnerNotMember as e:
            # Who may own it, for CI's log: usernames are what the field takes.
            detail = {"owners": _owner_usernames(project)}
            if owner is None:
                # No such account: the domain's sentence would start "Nobody is not a
                # member", never naming what CI sent.
                raise ApiError(
                    422,
                    f"No active account is named {payload.owner[:60]!r}: name a platform lead "
                    f"or release engineer of {project} as the release's owner, by username.",
                    detail,
                ) from None
            # The domain's own words (release_create): the web form says the same.
            raise ApiError(422, error_text(e) + " Name them by username.", detail) from None
        except ChecklistError as e:
            raise ApiError(409, error_text(e)) from None
        return 201, presenters.release_summary(release, created=True)

    return Status(*run_once(request, payload.model_dump(mode="json"), run))


def _owner_usernames(project: Any) -> list[str]:
    """The active platform leads and release engineers of ``project``: who may own a release."""
    return sorted(
        set(
            Membership.objects.filter(
                project=project, role__in=RELEASE_OWNER_ROLES, user__is_active=True
            ).values_list("user__username", flat=True)
        )
    )


@router.get(
    "/projects/{slug}/releases",
    response={200: list[ReleaseSummaryOut], ERRORS: ErrorOut},
    summary="List the project's releases, newest first",
)
def list_releases(
    request: HttpRequest,
    slug: str,
    state: Release.State | None = None,
    commit_sha: Sha | None = None,
    limit: Limit = 50,
) -> Any:
    """Scope: `read`. Filter by `state` or `commit_sha`; at most `limit` (≤ 200)."""
    token = require_scope(request, "read")
    project = project_for(token, slug)
    queryset = Release.objects.filter(project=project).select_related("project", "owner")
    if state:
        queryset = queryset.filter(state=state)
    if commit_sha:
        queryset = queryset.filter(commit_sha=commit_sha.lower())
    return Status(
        200,
        [presenters.release_summary(r) for r in queryset.order_by("-created_at", "-pk")[:limit]],
    )


@router.get(
    "/releases/{release_id}",
    response={200: ReleaseOut, ERRORS: ErrorOut},
    summary="Read a release: items, evidence, sign-offs, files, jobs, deployments",
)
def read_release(request: HttpRequest, release_id: ReleaseId) -> Any:
    """Scope: `read`. Sign-offs say whether they are `current` (given for today's digest)."""
    token = require_scope(request, "read")
    return Status(200, presenters.release_detail(release_for(token, release_id)))
