"""Starting, cancelling and retrying jobs: what the pages, the API and other services call.

Each service is one transaction that writes its audit event. Permission checks belong to
the caller (a view asks ``can(user, action_for(kind), project)`` first).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from migrations_ops.jobs.dispatch import record_job_end, send_after_commit
from migrations_ops.jobs.kinds import PREFLIGHT_KINDS, kind_spec, max_attempts_for, queue_for
from migrations_ops.models import Job, Project, Target
from release_portal.audit.services import actor_of, audit_record

ACTIVE_CONSTRAINT = "job_one_active_per_kind"


def _display_name(who: Any) -> str:
    """A person's username, an API token's name, or "system"."""
    return actor_of(who).name[:200]


def _active_job(*, kind: str, release: Any, target: Target | None) -> Job | None:
    return (
        Job.objects.filter(kind=kind, release=release, target=target, state__in=Job.ACTIVE_STATES)
        .order_by("-created_at")
        .first()
    )


def _check_params(params: dict[str, Any] | None) -> dict[str, Any]:
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise ValidationError("job parameters must be a JSON object")
    try:
        text = json.dumps(params)
    except (TypeError, ValueError):
        raise ValidationError("job parameters must be JSON values (text, numbers, lists)") from None
    if "\\u0000" in text:
        raise ValidationError("job parameters cannot hold NUL characters")
    return params


def _pinned_content(kind: str, release: Any) -> tuple[int | None, str]:
    """The bundle and content digest a job of ``kind`` is queued for, read together from
    the release's row as it is now (not from a copy the caller may have loaded earlier).

    A kind that pins its bundle (``JobKind.pins_bundle``) runs exactly that bundle on
    every attempt, and its evidence names that digest; the others (a backup, a restore
    check, the secret names) read no bundle content that their evidence vouches for.
    """
    if release is None:
        return None, ""
    row = type(release).objects.filter(pk=release.pk).values("bundle_id", "content_digest")
    current = row.first() or {"bundle_id": None, "content_digest": ""}
    bundle_id = current["bundle_id"] if kind_spec(kind).pins_bundle else None
    return bundle_id, current["content_digest"] or ""


@transaction.atomic
def job_enqueue(
    *,
    kind: str,
    project: Project,
    release: Any = None,
    target: Target | None = None,
    params: dict[str, Any] | None = None,
    created_by: Any = None,
    retry_of: Job | None = None,
) -> Job:
    """Queue a job and send its message once the transaction commits.

    One queued or running job per (kind, release, target): when one exists it is returned
    instead, with ``already_active`` set ("already running: job #N"), and nothing is sent.
    """
    if kind not in Job.Kind.values:
        raise ValidationError(f"unknown job kind {kind!r}")
    if release is not None and release.project_id != project.pk:
        raise ValidationError("the release belongs to another project")
    if target is not None and target.project_id != project.pk:
        raise ValidationError(f"the target {target.name} belongs to another project")
    if target is not None and (disabled := target.disabled_reason):
        raise ValidationError(disabled)
    params = _check_params(params)

    existing = _active_job(kind=kind, release=release, target=target)
    if existing is not None:
        existing.already_active = True
        return existing
    bundle_id, content_digest = _pinned_content(kind, release)
    try:
        with transaction.atomic():  # a savepoint: a lost race leaves the outer one usable
            job = Job.objects.create(
                kind=kind,
                project=project,
                release=release,
                target=target,
                queue=queue_for(kind),
                params=params,
                max_attempts=max_attempts_for(kind),
                created_by=created_by if actor_of(created_by).kind == "user" else None,
                created_by_name=_display_name(created_by),
                content_digest=content_digest,
                bundle_id=bundle_id,
                enqueued_at=timezone.now(),
                retry_of=retry_of,
            )
    except IntegrityError as e:
        if ACTIVE_CONSTRAINT not in str(e):
            raise
        # Two clicks at once: the other transaction queued it first.
        raced = _active_job(kind=kind, release=release, target=target)
        if raced is None:
            raise
        raced.already_active = True
        return raced
    audit_record(
        actor=created_by,
        action="job.enqueue",
        obj=job,
        project=project,
        release=release,
        data={
            "kind": kind,
            "target": target.name if target else None,
            "queue": job.queue,
            "retry_of": retry_of.pk if retry_of else None,
        },
    )
    send_after_commit(job)
    return job


def staging_target(project: Project) -> Target:
    target = project.targets.filter(kind=Target.Kind.STAGING).order_by("name").first()
    if target is None:
        raise ValidationError(
            f"{project.name} has no staging target: add one (its name and the environment "
            "variable holding its database URL) in the project's settings, then run the "
            "pre-flight again"
        )
    return target


@transaction.atomic
def preflight_start(*, release: Any, user: Any, target: Target | None = None) -> list[Job]:
    """Queue the runbook's §3 checks (plus RLS and drift) for ``release`` against staging:
    ``target``, one of the project's staging targets, or the first by name.

    Returns one job per kind; a kind already queued or running is not started twice.
    """
    if target is None:
        target = staging_target(release.project)
    elif target.project_id != release.project_id or target.kind != Target.Kind.STAGING:
        raise ValidationError(
            f"{target.name} is not one of {release.project.name}'s staging targets: the "
            "pre-flight runs against staging. Choose one of them."
        )
    jobs = [
        job_enqueue(
            kind=kind, project=release.project, release=release, target=target, created_by=user
        )
        for kind in PREFLIGHT_KINDS
    ]
    audit_record(
        actor=user,
        action="release.preflight_start",
        obj=release,
        data={
            "target": target.name,
            "jobs": {job.kind: job.pk for job in jobs},
            "already_active": [job.pk for job in jobs if job.already_active],
        },
    )
    return jobs


@transaction.atomic
def job_cancel(*, job: Job, user: Any) -> Job:
    """Cancel ``job``: a queued job at once; a running one at its runner's next check."""
    job = Job.objects.select_for_update().get(pk=job.pk)
    if job.state == Job.State.QUEUED:
        job.state = Job.State.CANCELLED
        job.finished_at = timezone.now()
        job.summary = f"cancelled by {_display_name(user)} before it started"
        job.save(update_fields=["state", "finished_at", "summary"])
        record_job_end(job, actor=user, data={"cancelled_while": "queued"})
        return job
    if job.state == Job.State.RUNNING:
        if job.cancel_requested_at is None:
            job.cancel_requested_at = timezone.now()
            job.save(update_fields=["cancel_requested_at"])
            audit_record(actor=user, action="job.cancel_request", obj=job, data={"kind": job.kind})
        return job
    raise ValidationError(f"job #{job.pk} has already ended ({job.get_state_display().lower()})")


@transaction.atomic
def job_retry(*, job: Job, user: Any) -> Job:
    """A new job like ``job`` (same kind, release, target, parameters), linked by retry_of.

    Only for a job that has ended; when one of the kind is already active, that one is
    returned (``already_active``).
    """
    if job.state not in Job.FINAL_STATES:
        raise ValidationError(
            f"job #{job.pk} is still {job.get_state_display().lower()}: only a job that has "
            "ended can be retried"
        )
    new = job_enqueue(
        kind=job.kind,
        project=job.project,
        release=job.release,
        target=job.target,
        params=job.params,
        created_by=user,
        retry_of=job,
    )
    if not new.already_active:
        audit_record(actor=user, action="job.retry", obj=job, data={"new_job": new.pk})
    return new
