"""Thin Celery tasks: ids in, a service called. Beat signs checkpoints on a schedule."""

from __future__ import annotations

from celery import shared_task

from release_portal.audit import checkpoints, verification


@shared_task(
    name="release_portal.audit.tasks.audit_verification_run",
    ignore_result=True,
    acks_late=True,
    soft_time_limit=3600,
    time_limit=3660,
)
def audit_verification_run(run_id: int) -> None:
    verification.verification_run(run_id=run_id)


@shared_task(name="release_portal.audit.tasks.audit_verifications_sweep", ignore_result=True)
def audit_verifications_sweep() -> None:
    verification.verifications_sweep()


@shared_task(
    name="release_portal.audit.tasks.audit_checkpoint",
    ignore_result=True,
    soft_time_limit=60,
    time_limit=90,
)
def audit_checkpoint() -> None:
    """Sign the chain head (unless the newest checkpoint already covers it)."""
    checkpoints.checkpoint_scheduled()
