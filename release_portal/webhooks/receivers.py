"""Events the webhooks app announces itself: a job that ended failed or timed out, and
each signed checkpoint of the change log."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.dispatch import receiver

from release_portal.audit.checkpoints import checkpoint_signed
from release_portal.webhooks import events

logger = logging.getLogger(__name__)

FAILED_STATES = frozenset({"failed", "timed_out"})


def announce_failed_job(job: Any) -> None:
    """The job engine's "webhooks.failed" end hook (registered by the app's ready())."""
    if job.state not in FAILED_STATES:
        return
    # Inside the job's finishing transaction: a savepoint, so a problem here never
    # takes the job's end down with it.
    try:
        with transaction.atomic():
            events.job_failed(job)
    except Exception:
        logger.exception("job %s: could not announce its failure to webhooks", job.pk)


@receiver(checkpoint_signed, dispatch_uid="webhooks.audit_checkpoint")
def _send_checkpoint(
    sender: Any, document: dict[str, Any], rotation: Any = None, **kwargs: Any
) -> None:
    # After the checkpoint committed: a receiver that is down never undoes the signing.
    try:
        events.audit_checkpoint(document=document, rotation=rotation)
    except Exception:
        logger.exception("could not queue checkpoint #%s for webhooks", document.get("seq"))
