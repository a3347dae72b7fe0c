"""Claiming a queued job, holding its lease, and hearing about cancel requests.

The claim is one conditional UPDATE (queued → running): of two workers handed the same
message, one changes the row and the other changes nothing and stops. The attempt
number the claim set is the worker's fencing token: every later write (heartbeat, log,
scratch database, finish) says ``WHERE state = 'running' AND attempts = <mine>``, so a
worker the reaper gave up on can never touch the job again. Times come from the
database's clock, so workers on machines with skewed clocks agree on leases.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, InterfaceError, connection, connections, transaction
from django.db.models import CharField, F, Func, QuerySet, Value
from django.db.models.functions import Cast, Now

from migrations_ops.jobs.dispatch import audit_job
from migrations_ops.jobs.worklog import JobLog
from migrations_ops.models import Job, attempt_started
from migrations_ops.runners.base import JobCancelled
from release_portal.audit.services import Actor

logger = logging.getLogger(__name__)

CANCEL_CHECK_SECONDS = 1.0


def lease_delta() -> timedelta:
    return timedelta(seconds=settings.JOB_LEASE_SECONDS)


def job_claim(*, job_id: int, worker: str) -> Job | None:
    """Take the queued job ``job_id`` for ``worker``; None when it is not queued (any more)."""
    with transaction.atomic():
        claimed = Job.objects.filter(pk=job_id, state=Job.State.QUEUED).update(
            state=Job.State.RUNNING,
            worker=worker[:200],
            attempts=F("attempts") + 1,
            lease_expires_at=Now() + lease_delta(),
            heartbeat_at=Now(),
            started_at=Now(),
            attempt_history=attempt_started(worker),
        )
        if not claimed:
            return None
        job = Job.objects.select_related("project", "release", "target").get(pk=job_id)
        audit_job(
            job,
            actor=Actor.system(f"worker {worker}"[:200]),
            action="job.start",
            data={"kind": job.kind, "attempt": job.attempts, "worker": worker},
        )
    return job


class Claim:
    """A worker's hold on one attempt of a running job."""

    def __init__(self, job: Job) -> None:
        self.job_id = job.pk
        self.attempt = job.attempts
        self.lost = False
        self.cancel_requested = job.cancel_requested_at is not None
        self._checked_at = time.monotonic()

    def _ours(self) -> QuerySet[Job]:
        return Job.objects.held(self.job_id, self.attempt)

    def renew(self) -> bool:
        """Extend the lease; False (and ``lost``) when the job is no longer ours."""
        if not self._ours().update(lease_expires_at=Now() + lease_delta(), heartbeat_at=Now()):
            self.lost = True
        return not self.lost

    def cancelled(self) -> bool:
        """The runner's ``ctx.cancelled()``: asks the database at most once a second."""
        if self.lost or self.cancel_requested:
            return True
        now = time.monotonic()
        if now - self._checked_at < CANCEL_CHECK_SECONDS:
            return False
        self._checked_at = now
        row = self._ours().values_list("cancel_requested_at").first()
        if row is None:
            self.lost = True
        elif row[0] is not None:
            self.cancel_requested = True
        return self.lost or self.cancel_requested

    def scratch_created(self, name: str) -> None:
        """Record a scratch database before it is created, so the reaper can drop it."""
        added = Func(
            F("scratch_databases"), Cast(Value(name), CharField()), function="array_append"
        )
        if not self._ours().update(scratch_databases=added):
            self.lost = True
            raise JobCancelled("this worker no longer holds the job")

    def scratch_dropped(self, name: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE migrations_ops_job SET scratch_databases = "
                "array_remove(scratch_databases, %s::varchar) WHERE id = %s",
                [name, self.job_id],
            )


class Heartbeat(threading.Thread):
    """Renews the lease every third of it and flushes buffered log lines, in the background.

    It runs beside the runner, so a runner blocked in a long SQL statement or a
    subprocess still holds its lease and still shows its latest output.
    """

    TICK_SECONDS = 0.25

    def __init__(self, claim: Claim, log: JobLog) -> None:
        super().__init__(name=f"job-{claim.job_id}-heartbeat", daemon=True)
        self.claim = claim
        self.log = log
        self.every = max(self.TICK_SECONDS, settings.JOB_LEASE_SECONDS / 3)
        self._stop_event = threading.Event()

    def run(self) -> None:
        last_renew = time.monotonic()
        try:
            while not self._stop_event.wait(self.TICK_SECONDS):
                try:
                    self.log.flush_if_stale()
                    if time.monotonic() - last_renew >= self.every:
                        last_renew = time.monotonic()
                        if not self.claim.renew():
                            logger.warning(
                                "job %s: lease lost to another worker", self.claim.job_id
                            )
                            return
                except (DatabaseError, InterfaceError):
                    # The portal's database away: retry; the lease runs out if it stays away.
                    logger.warning("job %s: heartbeat failed; retrying", self.claim.job_id)
                    connection.close_if_unusable_or_obsolete()
        finally:
            connections.close_all()  # this thread's own connections only

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=30)
