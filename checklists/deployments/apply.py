"""Starting an apply job, and what its end means for a production deployment.

``apply_start`` is the one way an ``apply`` job reaches a production database. It checks
the release gate when the job is queued and records the digest the gate approved in the
job's parameters; the ``apply`` runner refuses production unless that digest still
equals the release's digest when it runs
(``migrations_ops.runners.apply.check_production_guard``). For production it also takes
the target's deploy lock with a Deployment record (``checklists.deployments.services.
deployment_start``: the release moves to deploying), as rollbacks do.

``freeze_check`` (a job-engine options hook) asks again when a worker starts the job: a
freeze window that began after the deployment was queued holds it back. Nothing is
applied; the job fails saying so, its deployment ends (freeing the target) and the release
is approved again (``deployment_finish(held=...)``), so the way through is to start it
again after the window, or a break-glass given during the window. A
job already applying when a window begins runs to its end: stopping a migration midway
leaves production worse off than finishing it. Rollbacks are never held.

``apply_finished`` (the job engine's "deployments.finish" end hook) finishes that
record when the job ends: succeeded, the release moves to monitoring and the runbook's
post-deploy window opens (``monitoring_start``); failed, cancelled or timed out, the
deployment failed (the release fails, and ``deploy.failed`` is notified).

Staging needs no gate and no deployment record.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import capfirst

from checklists.deployments.gate import GateClosed, active_freeze, active_override
from checklists.deployments.services import deployment_finish_for_job, deployment_start
from checklists.models import Deployment, Release
from migrations_ops.jobs.services import job_enqueue
from migrations_ops.models import Job, Target
from release_portal.accounts.roles import Action, can
from release_portal.audit.services import actor_of, audit_record, audit_record_now
from release_portal.templatetags.portal import utc_time

logger = logging.getLogger(__name__)


def apply_start(*, release: Any, target: Target, user: Any, include_all: bool = False) -> Job:
    """Queue an ``apply`` job of ``release`` against ``target``.

    Production: refused with GateClosed unless the gate is open (the refusal is audited),
    or with DeployLocked while another deployment holds the target; the approved digest,
    the time of the check and the Deployment record go into the job's parameters. The
    gate is asked once, by ``deployment_start``, which takes the deploy lock. A person
    needs the DEPLOY permission (an API token's scope is checked by the API). Returns the
    queued job, or the one already queued or running (``already_active``).
    """
    try:
        return _apply_start(release=release, target=target, user=user, include_all=include_all)
    except GateClosed as refused:
        audit_record_now(
            actor=user,
            action="apply.refused",
            obj=release,
            data={"target": target.name, "reasons": refused.reasons},
        )
        raise GateClosed(
            refused.gate, "The release gate is closed, so production is not applied to"
        ) from None


@transaction.atomic
def _apply_start(*, release: Any, target: Target, user: Any, include_all: bool) -> Job:
    who = actor_of(user)
    if who.kind == "user" and not can(user, Action.DEPLOY, release.project_id):
        raise PermissionDenied("Your roles do not allow applying migrations.")
    release = Release.objects.select_for_update(of=("self",)).get(pk=release.pk)
    if target.project_id != release.project_id:
        raise ValidationError(f"The target {target.name} belongs to another project.")
    if disabled := target.disabled_reason:
        raise ValidationError(capfirst(disabled))
    active = Job.objects.filter(
        kind=Job.Kind.APPLY, release=release, target=target, state__in=Job.ACTIVE_STATES
    ).first()
    if active is not None:
        active.already_active = True
        return active
    params: dict[str, Any] = {"include_all": bool(include_all)}
    if target.kind == Target.Kind.PRODUCTION:
        # The gate (GateClosed), then the target's deploy lock; moves the release to
        # deploying (DeployLocked when another deployment or a rollback holds the target).
        deployment = deployment_start(
            release=release, target=target, actor=user, digest=release.digest
        )
        params |= {
            "gate_checked": True,
            "approved_digest": deployment.digest,
            "gate_checked_at": timezone.now().isoformat(),
            # A break-glass override opened it: say so in the job and its audit event.
            "break_glass": deployment.override_id,
            "deployment_id": deployment.pk,
        }
    job = job_enqueue(
        kind=Job.Kind.APPLY,
        project=release.project,
        release=release,
        target=target,
        params=params,
        created_by=user,
    )
    audit_record(
        actor=user,
        action="apply.start",
        obj=release,
        data={
            "job": job.pk,
            "target": target.name,
            "target_kind": target.kind,
            "approved_digest": params.get("approved_digest", ""),
            "include_all": bool(include_all),
            "break_glass": params.get("break_glass"),
            "deployment": params.get("deployment_id"),
        },
    )
    return job


def apply_finished(*, job: Job) -> Deployment | None:
    """A production apply job ended: its Deployment finishes as the job did (success opens
    the monitoring window). Runs inside the job's finishing transaction (an end hook)."""
    if job.kind != Job.Kind.APPLY:
        return None
    return deployment_finish_for_job(job=job)


def freeze_refusal(job: Job) -> str:
    """Why a production apply job may not start now, or "": a freeze window of its
    project is on, and no break-glass given during that window opens the gate for the
    digest the job was queued for."""
    params = job.params or {}
    if job.kind != Job.Kind.APPLY or not params.get("deployment_id"):
        return ""
    if job.target is None or job.target.kind != Target.Kind.PRODUCTION:
        return ""
    now = timezone.now()
    freeze = active_freeze(job.project_id, now)
    if freeze is None:
        return ""
    override = active_override(job.release, now) if job.release is not None else None
    if (
        override is not None
        and override.digest == params.get("approved_digest")
        and override.created_at >= freeze.starts_at
    ):
        return ""
    reason = f" ({freeze.reason})" if freeze.reason else ""
    return (
        f"refusing to apply to {job.target.name} (production): a freeze window{reason} began "
        f"at {utc_time(freeze.starts_at)}, after this deployment was queued "
        f"({utc_time(job.created_at)}) and before a worker started it; nothing was applied. "
        f"Start the deployment again after the window ends ({utc_time(freeze.ends_at)}), or, "
        "if it cannot wait, a platform lead breaks glass on the release's gate page and "
        "the deployment is started again"
    )


@contextlib.contextmanager
def freeze_check(job: Job) -> Iterator[dict[str, Any]]:
    """The options hook: the apply runner refuses a job with ``freeze_refusal`` before it
    connects to production (``production_hold``)."""
    # Always set for an apply job, so the job's parameters never supply it.
    yield {"freeze_refusal": freeze_refusal(job)} if job.kind == Job.Kind.APPLY else {}
