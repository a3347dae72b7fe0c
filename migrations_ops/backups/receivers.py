"""The SRE side hears of finished jobs (``job_finished``, inside the finishing transaction).

- backup: the manifest row is made and its restore check queued;
- restore_check: the verification is recorded (and becomes checklist evidence);
- rehearsal: the plan is marked and its evidence passes or fails;
- any job an incident started: a timeline entry; a successful rollback moves the release
  failed → rolled_back.
"""

from typing import Any

from django.dispatch import receiver

from migrations_ops.backups.services import backup_record_from_job, backup_record_verification
from migrations_ops.incidents.services import incident_job_finished
from migrations_ops.rollback.services import rehearsal_record
from migrations_ops.signals import job_finished


@receiver(job_finished, dispatch_uid="migrations_ops.sre_job_finished")
def _sre_job_finished(sender: Any, job: Any, **kwargs: Any) -> None:
    if job.kind == "backup":
        backup_record_from_job(job=job)
    elif job.kind == "restore_check":
        backup_record_verification(job=job)
    elif job.kind == "rehearsal":
        rehearsal_record(job=job)
    incident_job_finished(job=job)
