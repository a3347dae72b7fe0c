"""A production apply job that ended finishes its deployment record and, when it
succeeded, opens the post-deploy monitoring window."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.dispatch import receiver

from migrations_ops.signals import job_finished

logger = logging.getLogger(__name__)


@receiver(job_finished, dispatch_uid="monitoring.apply_finished")
def _apply_finished(sender: Any, job: Any, **kwargs: Any) -> None:
    if job.kind != "apply" or not (job.params or {}).get("deployment_id"):
        return
    from checklists.deployments.apply import apply_finished

    # A savepoint: the job's own end must be recorded even if this fails; the deployment
    # then stays started (holding the target) until it is reported finished.
    try:
        with transaction.atomic():
            apply_finished(job=job)
    except Exception:
        logger.exception("apply job %s: could not finish its deployment record", job.pk)
