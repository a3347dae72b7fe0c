"""Sending "job N is ready" to Celery, and what happens when a job ends.

A message carries only the job's id. Sending happens after the transaction that queued
the job commits (``send_after_commit``); if the broker is down the error is logged, the
row stays queued, and the sweep sends it again later.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from migrations_ops.jobs import hooks
from migrations_ops.jobs.kinds import kind_spec, time_limits
from migrations_ops.jobs.output import summary_for_all
from migrations_ops.models import Job
from release_portal.audit.services import audit_record

logger = logging.getLogger(__name__)


def job_send(*, job_id: int, kind: str, queue: str) -> None:
    """Publish the message now (raises the broker's error when it cannot)."""
    from migrations_ops.tasks import run_job

    soft, hard = time_limits(kind)
    run_job.apply_async(args=(job_id,), queue=queue, soft_time_limit=soft, time_limit=hard)


def send_after_commit(job: Job) -> None:
    job_id, kind, queue = job.pk, job.kind, job.queue
    # robust: a broker that is down never turns the committed request into an error.
    transaction.on_commit(lambda: job_send(job_id=job_id, kind=kind, queue=queue), robust=True)


def audit_job(job: Job, *, actor: Any, action: str, data: dict[str, Any]) -> None:
    """Audit ``action`` on ``job`` in its project and release, named by the row's ids."""
    audit_record(
        actor=actor,
        action=action,
        obj=job,
        project=job.project_id,
        release=job.release_id,
        data=data,
    )


def record_job_end(job: Job, *, actor: Any, data: dict[str, Any] | None = None) -> None:
    """Audit the end of ``job`` and run the features' end hooks (``jobs.hooks``), inside
    the transaction that ended it.

    The hooks (checklist evidence, backup manifests...) write in the same transaction, so
    a job is never finished without its evidence, nor evidence kept for a job that is not.
    """
    audit_job(
        job,
        actor=actor,
        action="job.finish",
        data={
            "kind": job.kind,
            "state": job.state,
            "ok": job.ok,
            # Every member reads the change log: the verdict alone for a job over
            # production's rows (jobs.output).
            "summary": summary_for_all(job),
            "attempts": job.attempts,
            **(data or {}),
        },
    )
    hooks.job_ended(job, ends=kind_spec(job.kind).ends)
