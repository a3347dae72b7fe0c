"""Thin Celery tasks: they take ids and call the job engine. The Job row is the truth."""

from __future__ import annotations

import os
import socket

from celery import shared_task

from migrations_ops.jobs import engine, recovery


@shared_task(name="migrations_ops.tasks.run_job", bind=True, ignore_result=True, acks_late=True)
def run_job(self, job_id: int) -> None:
    """Run job ``job_id`` if it is still queued; a duplicate message does nothing."""
    worker = f"{self.request.hostname or socket.gethostname()} pid {os.getpid()}"
    engine.job_execute(job_id=job_id, worker=worker)


@shared_task(
    name="migrations_ops.tasks.jobs_sweep", ignore_result=True, soft_time_limit=60, time_limit=90
)
def jobs_sweep() -> None:
    recovery.jobs_sweep()


@shared_task(
    name="migrations_ops.tasks.jobs_reap", ignore_result=True, soft_time_limit=120, time_limit=180
)
def jobs_reap() -> None:
    recovery.jobs_reap()
