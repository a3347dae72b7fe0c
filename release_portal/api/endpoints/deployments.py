"""Deployments: start (takes the target's deploy lock), finish (frees it)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Status

from checklists.deployments.services import (
    INCIDENT_HINT,
    DeployLocked,
    DigestMismatch,
    GateClosed,
    deployment_finish,
    deployment_start,
)
from checklists.models import Deployment
from checklists.services.errors import AlreadyDone, ChecklistError
from release_portal.api import presenters
from release_portal.api.auth import release_for, require_scope, target_for
from release_portal.api.errors import ApiError
from release_portal.api.idempotency import run_once
from release_portal.api.schemas import (
    ERRORS,
    DeploymentFinishIn,
    DeploymentId,
    DeploymentOut,
    DeploymentStartIn,
    ErrorOut,
    ReleaseId,
)
from release_portal.http import error_text

router = Router(tags=["deployments"])


@router.post(
    "/releases/{release_id}/deployments",
    response={201: DeploymentOut, ERRORS: ErrorOut},
    summary="Record that a deployment started (takes the target's deploy lock)",
)
def start_deployment(
    request: HttpRequest, payload: DeploymentStartIn, release_id: ReleaseId
) -> Any:
    """`{"target": "production", "status": "started", "digest": <the gate's digest>}`.

    A production deployment needs the gate open for exactly `digest` (else **409** with
    the gate's answer in `detail`) and moves the release to `deploying`. A `rollback`
    (`"kind": "rollback"`, no digest) follows the rollback job's rules: an incident open
    for the release on the target, with maintenance mode on (else **409** saying what is
    missing); reported succeeded on production, it moves a failed release to
    `rolled_back`. A target has one deploy lock: while a deployment or rollback of any
    release holds it, a second start is **409**. Scope: `deploy`."""
    token = require_scope(request, "deploy")
    release = release_for(token, release_id)
    target = target_for(token, payload.target)

    def run() -> tuple[int, Any]:
        try:
            deployment = deployment_start(
                release=release, target=target, actor=token, digest=payload.digest,
                kind=payload.kind, run_url=payload.run_url or "",
            )  # fmt: skip
        except GateClosed as e:
            raise ApiError(409, e.messages[0], presenters.gate(release, e.gate)) from None
        except DeployLocked as e:
            holder = presenters.deployment(e.holder) if e.holder else None
            raise ApiError(409, e.messages[0], {"locked_by": holder}) from None
        except DigestMismatch as e:
            raise ApiError(409, e.messages[0], {"digest": release.digest}) from None
        except ChecklistError as e:
            raise ApiError(409, error_text(e)) from None
        deployment.release.refresh_from_db(fields=["state"])
        return 201, presenters.deployment(deployment)

    return Status(*run_once(request, payload.model_dump(mode="json"), run))


def _finish(
    request: HttpRequest, release_id: int, deployment_id: int, payload: DeploymentFinishIn
) -> Any:
    token = require_scope(request, "deploy")
    release = release_for(token, release_id)
    deployment = (
        Deployment.objects.select_related("target", "release")
        .filter(pk=deployment_id, release=release)
        .first()
    )
    if deployment is None:
        raise ApiError(404, f"No deployment #{deployment_id} of release #{release.pk}.")

    def run() -> tuple[int, Any]:
        try:
            done = deployment_finish(
                deployment=deployment, actor=token, status=payload.status,
                log_url=payload.log_url or "",
            )  # fmt: skip
        except AlreadyDone as e:
            # The same outcome reported twice (a retry without Idempotency-Key): no change.
            return 200, presenters.deployment(deployment, hint=e.messages[0])
        except ChecklistError as e:
            raise ApiError(409, error_text(e)) from None
        done.release.refresh_from_db(fields=["state"])
        failed = done.status == Deployment.Status.FAILED
        return 200, presenters.deployment(done, hint=INCIDENT_HINT if failed else None)

    return Status(*run_once(request, payload.model_dump(mode="json"), run))


FINISH = {
    "response": {200: DeploymentOut, ERRORS: ErrorOut},
    "summary": "Report how a deployment ended (frees the target's deploy lock)",
}


@router.patch("/releases/{release_id}/deployments/{deployment_id}", **FINISH)  # type: ignore[arg-type]
def finish_deployment(
    request: HttpRequest,
    payload: DeploymentFinishIn,
    release_id: ReleaseId,
    deployment_id: DeploymentId,
) -> Any:
    """`{"status": "succeeded" | "failed", "log_url": ...}`. Success moves a production
    release to `monitoring` (runbook §2: 30 minutes of post-deploy monitoring); failure
    moves it to `failed`, notifies, and answers with a `hint` to open an incident.
    Scope: `deploy`."""
    return _finish(request, release_id, deployment_id, payload)


@router.post("/releases/{release_id}/deployments/{deployment_id}", **FINISH)  # type: ignore[arg-type]
def finish_deployment_post(
    request: HttpRequest,
    payload: DeploymentFinishIn,
    release_id: ReleaseId,
    deployment_id: DeploymentId,
) -> Any:
    """The same as PATCH, for clients that only POST. Scope: `deploy`."""
    return _finish(request, release_id, deployment_id, payload)
