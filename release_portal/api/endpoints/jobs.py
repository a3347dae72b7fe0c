"""Jobs: start one for a release, follow its status and log."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Router, Status

from checklists.deployments.apply import apply_start
from checklists.deployments.gate import GateClosed
from checklists.deployments.services import DeployLocked
from migrations_ops.incidents.services import rollback_start
from migrations_ops.jobs.kinds import api_scope_for
from migrations_ops.jobs.scrub import scrub_paths
from migrations_ops.jobs.services import job_enqueue
from migrations_ops.models import Job, JobLogLine
from release_portal.api import presenters
from release_portal.api.auth import job_for, release_for, require_scope, target_for, token_of
from release_portal.api.errors import ApiError
from release_portal.api.idempotency import run_once
from release_portal.api.schemas import (
    ERRORS,
    ErrorOut,
    JobId,
    JobIn,
    JobLogOut,
    JobOut,
    LogAfter,
    ReleaseId,
)
from release_portal.http import error_text

router = Router(tags=["jobs"])

LOG_PAGE = 500


@router.post(
    "/releases/{release_id}/jobs",
    response={200: JobOut, 201: JobOut, ERRORS: ErrorOut},
    summary="Start a job for the release (a check, a backup, or apply/rollback)",
)
def start_job(request: HttpRequest, payload: JobIn, release_id: ReleaseId) -> Any:
    """**201** with the queued job; **200** with the job already queued or running of the
    same kind and target (nothing is started twice).

    Scope: `report` for checks (order, dry_run, rls, ...) on a staging or other target, or
    with none; `deploy` for the jobs that hold production connections: `apply`,
    `rollback`, `backup`, `restore_check` and `rehearsal`; and `deploy` for **any** job on
    a target of kind production, checks included (they read the target they run on): a
    token with `report` alone gets **403** naming the scope and the target, and the
    portal never connects to production for it. Applying to a production target needs the
    gate open (**409** with the gate's answer otherwise) and takes the target's deploy
    lock. `rollback` runs the plan of the incident open for the release on that target,
    with maintenance mode on, under the deploy lock: the same rules as from the incident's
    page (**409** saying what is missing otherwise)."""
    token = token_of(request)
    release = release_for(token, release_id)
    target = target_for(token, payload.target) if payload.target else None
    needed = api_scope_for(payload.kind, target)
    if target is not None and needed != api_scope_for(payload.kind):  # the target raised it
        require_scope(
            request,
            needed,
            because=f"every job on {target.name}, a {target.get_kind_display().lower()} "
            "target, needs (with report alone, run checks on staging)",
            detail={"target": target.name, "target_kind": target.kind},
        )
    else:
        require_scope(request, needed)

    def run() -> tuple[int, Any]:
        if payload.kind == Job.Kind.ROLLBACK:
            if target is None:
                raise ApiError(422, "Name the target to roll back (staging or production).")
            try:
                job = rollback_start(release=release, target=target, user=token)
            except ValidationError as e:  # no incident, no plan, maintenance off, locked
                raise ApiError(409, error_text(e)) from None
            return (200 if getattr(job, "already_active", False) else 201), presenters.job(job)
        if payload.kind == Job.Kind.APPLY:
            if target is None:
                raise ApiError(422, "Name the target to apply to (staging or production).")
            try:
                # Production: the gate must be open; the deploy lock is taken; the
                # approved digest travels with the job.
                job = apply_start(release=release, target=target, user=token)
            except GateClosed as e:
                # The sentence names what the gate waits for, as the gate's and the
                # deployments' 409s do: a CI log shows `error`, rarely `detail`.
                raise ApiError(409, error_text(e), presenters.gate(release, e.gate)) from None
            except DeployLocked as e:
                raise ApiError(409, error_text(e)) from None
            except ValidationError as e:
                raise ApiError(422, error_text(e)) from None
            return (200 if getattr(job, "already_active", False) else 201), presenters.job(job)
        try:
            job = job_enqueue(
                kind=payload.kind, project=release.project, release=release, target=target,
                created_by=token,
            )  # fmt: skip
        except ValidationError as e:
            raise ApiError(422, error_text(e)) from None
        status = 200 if getattr(job, "already_active", False) else 201
        return status, presenters.job(job)

    return Status(*run_once(request, payload.model_dump(mode="json"), run))


@router.get(
    "/jobs/{job_id}",
    response={200: JobLogOut, ERRORS: ErrorOut},
    summary="A job's state and its log lines after a sequence number",
)
def read_job(
    request: HttpRequest,
    job_id: JobId,
    after: LogAfter = 0,
) -> Any:
    """Poll with `?after=<next_after>` until `done`. Scope: `read`.

    A `restore_check` or `rehearsal` ran over a copy of production's rows: no token reads
    what it wrote (`lines` stays empty, `job.summary` is the portal's verdict, `job.error`
    empty and `job.output_withheld` says why); SREs and platform leads read it in the
    portal. Its state, `ok` and times are as for any job."""
    token = require_scope(request, "read")
    job = job_for(token, job_id)
    lines = list(JobLogLine.objects.filter(job=job, seq__gt=after).order_by("seq")[:LOG_PAGE])
    if not presenters.token_reads_output(job):
        lines = []
    return Status(
        200,
        {
            "job": presenters.job(job),
            "lines": [
                {"seq": ln.seq, "at": ln.at, "stream": ln.stream, "text": scrub_paths(ln.text)}
                for ln in lines
            ],
            "next_after": lines[-1].seq if lines else after,
            "done": job.state in Job.FINAL_STATES and len(lines) < LOG_PAGE,
        },
    )
