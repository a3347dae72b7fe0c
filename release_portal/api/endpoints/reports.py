"""What CI sends about a release: its migrations bundle, check results, secret names, PR."""

from __future__ import annotations

import hashlib
from typing import Any

from django.http import HttpRequest
from ninja import Router, Status

from checklists import rules
from checklists.services.ci_results import (
    StepNotFound,
    ci_run_report,
    ci_secrets_report,
    pull_request_report,
)
from checklists.services.errors import ChecklistError
from checklists.services.migrations import release_upload_archive
from release_portal.api import presenters
from release_portal.api.auth import release_for, require_scope
from release_portal.api.errors import ApiError
from release_portal.api.idempotency import run_once
from release_portal.api.schemas import (
    ERRORS,
    CiRunIn,
    ErrorOut,
    EvidenceIn,
    EvidenceReportOut,
    MigrationsOut,
    MoveToSha,
    PullRequestIn,
    PullRequestOut,
    ReleaseId,
)
from release_portal.http import error_text

router = Router(tags=["reports"])

ARCHIVE_TYPES = {
    "application/gzip": "supabase.tar.gz",
    "application/x-gzip": "supabase.tar.gz",
    "application/x-tar": "supabase.tar",
    "application/zip": "supabase.zip",
    "application/octet-stream": "supabase.archive",
}
UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "commit_sha": {"type": "string", "pattern": "^[0-9a-fA-F]{40}$"},
                },
            }
        },
        "application/gzip": {"schema": {"type": "string", "format": "binary"}},
        "application/zip": {"schema": {"type": "string", "format": "binary"}},
    },
}


def _archive(request: HttpRequest) -> tuple[bytes, str, str]:
    """(bytes, filename, commit_sha from the form) of a multipart or raw upload."""
    content_type = (request.content_type or "").lower()
    if content_type == "multipart/form-data":
        upload = request.FILES.get("file")
        if upload is None:
            raise ApiError(422, "Send the archive as the multipart field `file`.")
        return upload.read(), upload.name or "supabase.archive", request.POST.get("commit_sha", "")
    if content_type in ARCHIVE_TYPES:
        # The size was checked against API_MAX_UPLOAD_BYTES before the view ran.
        return request.read(), ARCHIVE_TYPES[content_type], ""
    raise ApiError(
        415,
        "Send the supabase/ folder as a zip or tar.gz: multipart/form-data with a `file` "
        "field, or the raw archive as application/gzip or application/zip.",
    )


@router.post(
    "/releases/{release_id}/migrations",
    response={200: MigrationsOut, ERRORS | {415}: ErrorOut},
    openapi_extra={"requestBody": UPLOAD_BODY},
    summary="Upload the release's migrations bundle (the supabase/ folder)",
)
def upload_migrations(
    request: HttpRequest,
    release_id: ReleaseId,
    commit_sha: MoveToSha = None,
) -> Any:
    """Replaces the release's migration files; says what was added, removed or changed and
    how many sign-offs went stale. `commit_sha` (query or form field) moves the release to
    that commit at the same time. Scope: `report`."""
    token = require_scope(request, "report")
    release = release_for(token, release_id)
    data, filename, form_sha = _archive(request)
    sha = commit_sha or form_sha or None
    if sha is not None and (len(sha) != 40 or any(c not in "0123456789abcdefABCDEF" for c in sha)):
        raise ApiError(422, "commit_sha is all 40 hexadecimal characters of the commit.")

    def run() -> tuple[int, Any]:
        if release.state not in rules.OPEN_FOR_CHANGES:
            raise ApiError(
                409,
                f"The release is {release.get_state_display().lower()}: its migrations are frozen.",
            )
        try:
            result = release_upload_archive(
                release=release, data=data, filename=filename, actor=token, source="api",
                commit_sha=sha,
            )  # fmt: skip
        except ChecklistError as e:
            raise ApiError(422, error_text(e)) from None
        release.refresh_from_db()
        return 200, {
            "release": release.pk,
            "commit_sha": release.commit_sha,
            "files": release.migration_files.count(),
            "added": result.added,
            "removed": result.removed,
            "changed": result.changed,
            "skipped": result.skipped,
            "stale_signoffs": result.refresh.stale_signoffs,
            "stale_items": result.refresh.stale_items,
            "digest": release.digest,
            "content_digest": release.content_digest,
            "state": release.state,
        }

    fingerprint = {"sha256": hashlib.sha256(data).hexdigest(), "commit_sha": sha}
    return Status(*run_once(request, fingerprint, run))


def _report_errors(e: ChecklistError) -> ApiError:
    if isinstance(e, StepNotFound):
        return ApiError(422, error_text(e), {"valid_steps": e.valid})
    return ApiError(409, error_text(e))  # any other refusal, a commit mismatch among them


@router.post(
    "/releases/{release_id}/evidence",
    response={201: EvidenceReportOut, ERRORS: ErrorOut},
    summary="Report a CI result, or the secret names set in CI, as evidence for a step",
)
def report_evidence(request: HttpRequest, payload: EvidenceIn, release_id: ReleaseId) -> Any:
    """Attaches evidence to the item of runbook step `step` (it never ticks the item).
    `step` is a step key (see the release's items) or an evidence kind such as
    `ci:staging_apply`, `ci:rls_docker` or `ci:secrets`: every step that takes it.

    - `kind: "ci_run"`: `status` passed/failed, `run_url`, and the `commit_sha` the run
      tested, which must be the release's commit (else **409**).
    - `kind: "secrets"`: `names` of the secrets set in CI. **Names only**: a field for
      values, or anything that is not a variable name, is refused with 422 and never
      stored or echoed.

    An unknown step (or one that does not take CI reports) is **422**, with the valid
    step keys in `detail.valid_steps`. Scope: `report`."""
    token = require_scope(request, "report")
    release = release_for(token, release_id)

    def run() -> tuple[int, Any]:
        try:
            if isinstance(payload, CiRunIn):
                report = ci_run_report(
                    release=release, step=payload.step, status=payload.status,
                    run_url=payload.run_url, commit_sha=payload.commit_sha,
                    summary=payload.summary, actor=token, content_digest=payload.content_digest,
                )  # fmt: skip
            else:
                report = ci_secrets_report(
                    release=release, step=payload.step, names=payload.names,
                    run_url=payload.run_url or "", actor=token,
                )  # fmt: skip
        except ChecklistError as e:
            raise _report_errors(e) from None
        release.refresh_from_db()
        return 201, {
            "release": release.pk,
            "step": report.items[0].step.key,
            "item_state": report.items[0].state,
            "steps": [i.step.key for i in report.items],
            "evidence": presenters.evidence(report.evidence[0], release.content_digest),
            "missing_names": report.missing,
            "stale_signoffs": report.refresh.stale_signoffs,
            "digest": release.digest,
            "state": release.state,
        }

    return Status(*run_once(request, payload.model_dump(mode="json"), run))


@router.post(
    "/releases/{release_id}/pull-request",
    response={201: PullRequestOut, ERRORS: ErrorOut},
    summary="Record the release's pull request as its peer-review evidence",
)
def report_pull_request(request: HttpRequest, payload: PullRequestIn, release_id: ReleaseId) -> Any:
    """Runbook §2 "Peer review": the PR's URL, its approvals and whether the PR template's
    checklist is complete, for `commit_sha`, the commit CI found the PR by, which must be
    the release's commit (**409** otherwise, **422** without it), and optionally the
    `content_digest` it was reported for (the same rules as a CI result). A review is
    evidence for that commit and those files only. Scope: `report`."""
    token = require_scope(request, "report")
    release = release_for(token, release_id)

    def run() -> tuple[int, Any]:
        try:
            report = pull_request_report(
                release=release, url=payload.url, approvals=payload.approvals,
                template_checklist_complete=payload.template_checklist_complete,
                commit_sha=payload.commit_sha, content_digest=payload.content_digest,
                actor=token,
            )  # fmt: skip
        except ChecklistError as e:
            raise _report_errors(e) from None
        return 201, {
            "release": release.pk,
            "peer_review": presenters.peer_review(report.review),
            "attached_to": report.attached_to,
        }

    return Status(*run_once(request, payload.model_dump(mode="json"), run))
