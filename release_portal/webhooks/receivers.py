"""Events the webhooks app announces itself: a job that ended failed or timed out."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.dispatch import receiver

from migrations_ops.signals import job_finished
from release_portal.webhooks import events

logger = logging.getLogger(__name__)

FAILED_STATES = frozenset({"failed", "timed_out"})


@receiver(job_finished, dispatch_uid="webhooks.job_failed")
def _announce_failed_job(sender: Any, job: Any, **kwargs: Any) -> None:
    if job.state not in FAILED_STATES:
        return
    # Inside the job's finishing transaction: a savepoint, so a problem here never
    # takes the job's end down with it.
    try:
        with transaction.atomic():
            events.job_failed(job)
    except Exception:
        logger.exception("job %s: could not announce its failure to webhooks", job.pk)
