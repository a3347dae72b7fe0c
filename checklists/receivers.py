"""Facts from elsewhere that move a release: a finished job becomes evidence."""

from typing import Any

from django.dispatch import receiver

from checklists.services.items import evidence_from_job
from migrations_ops.signals import job_finished


@receiver(job_finished, dispatch_uid="checklists.evidence_from_job")
def _attach_job_evidence(sender: Any, job: Any, **kwargs: Any) -> None:
    # Inside the job's finishing transaction: the evidence and the job's end commit together.
    evidence_from_job(job=job)
