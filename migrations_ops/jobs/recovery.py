"""Beat's two recovery passes. Recovery never relies on the broker redelivering a message.

- The **sweep** re-sends queued jobs whose message was sent long ago and never claimed
  (the broker was down, lost it, or the filesystem broker deleted it on read and the
  worker died).
- The **reaper** takes back running jobs whose lease ran out (worker killed, machine
  gone, or cut off from the portal's database: such a worker ends its lease at once when
  it can, saying why): it drops the scratch databases the dead attempt recorded, then
  re-queues the job while attempts remain, else fails it with the reason (timed_out when
  it had run past its hard time limit: Celery killed it, and would again). It also
  retries dropping scratch databases that an ended job could not drop itself.

Both are safe to run on several machines at once: each row changes through a
conditional UPDATE or under a row lock taken with SKIP LOCKED.
"""

from __future__ import annotations

import logging
from datetime import UTC, timedelta

import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from migrations_ops.jobs.dispatch import record_job_end, send_after_commit
from migrations_ops.jobs.kinds import time_limits
from migrations_ops.models import Job, JobLogLine
from migrations_ops.pg import pgtools, scratch
from release_portal.audit.services import Actor, audit_record

logger = logging.getLogger(__name__)

BATCH = 100
REAPER = Actor.system("reaper")


def _stale_enqueue(after: timedelta) -> Q:
    return Q(enqueued_at__lt=Now() - after) | Q(enqueued_at__isnull=True)


def jobs_sweep(*, older_than_seconds: int | None = None) -> list[int]:
    """Re-send queued jobs whose message went out more than ``older_than_seconds`` ago."""
    after = timedelta(
        seconds=settings.JOB_SWEEP_AFTER_SECONDS
        if older_than_seconds is None
        else older_than_seconds
    )
    candidates = list(
        Job.objects.filter(Q(state=Job.State.QUEUED) & _stale_enqueue(after))
        .order_by("enqueued_at")
        .values_list("pk", flat=True)[:BATCH]
    )
    sent: list[int] = []
    for pk in candidates:
        with transaction.atomic():
            # Conditional: when two sweeps run at once, one of them re-sends the job.
            resend = Job.objects.filter(Q(pk=pk, state=Job.State.QUEUED) & _stale_enqueue(after))
            if not resend.update(enqueued_at=timezone.now()):
                continue
            job = Job.objects.only("pk", "kind", "queue").get(pk=pk)
            send_after_commit(job)
            sent.append(pk)
    if sent:
        logger.info("sweep: re-sent %d queued job(s): %s", len(sent), sent)
    return sent


def drop_scratch_databases(names: list[str]) -> list[str]:
    """Drop each scratch database; returns the names that could not be dropped."""
    if not names:
        return []
    left: list[str] = []
    server = pgtools.scratch_server_url()
    for name in names:
        try:
            scratch.drop_database(server, name)
        except (psycopg.Error, ValueError):
            logger.exception("could not drop scratch database %s; will retry", name)
            left.append(name)
    return left


def _append_log_line(job: Job, text: str) -> None:
    job.log_count += 1
    JobLogLine.objects.create(
        job=job, seq=job.log_count, at=timezone.now(), stream=JobLogLine.Stream.ERROR, text=text
    )


def _end_attempt(job: Job, outcome: str) -> None:
    """The dead attempt's end in ``attempt_history``: its worker, start and now."""
    history = list(job.attempt_history or [])
    if history and not history[-1].get("ended_at"):
        history[-1] = {**history[-1], "ended_at": timezone.now().isoformat(), "outcome": outcome}
        job.attempt_history = history


def _what_to_do(job: Job) -> str:
    """What a person does about a job whose worker died on its last attempt."""
    if job.max_attempts == 1:  # it may have changed its target partway: a person looks
        where = job.target.name if job.target is not None else "the target"
        return (
            f"it may have changed {where} partway, so it is not run again by itself: run "
            f"“{Job.Kind.PENDING.label}” on {where} to see what it applied, then start it again"
        )
    return (
        f"that was its last attempt ({job.attempts} of {job.max_attempts}): Retry runs it "
        "again; if its worker stops again, the worker's log says why (killed, out of memory, "
        "restarted)"
    )


def _reap_one(pk: int) -> str | None:
    with transaction.atomic():
        job = (
            Job.objects.select_for_update(skip_locked=True)
            .filter(pk=pk, state=Job.State.RUNNING, lease_expires_at__lt=Now())
            .first()
        )
        if job is None:  # renewed meanwhile, or another reaper has it
            return None
        assert job.lease_expires_at is not None
        expired = job.lease_expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        # A worker cut off from the database handed the attempt back saying why.
        reason = job.error or f"the worker stopped responding (lease expired at {expired})"
        recorded = list(job.scratch_databases)
        job.scratch_databases = drop_scratch_databases(recorded)
        dropped = [n for n in recorded if n not in job.scratch_databases]
        data = {"worker": job.worker, "attempt": job.attempts, "scratch_dropped": dropped}
        job.lease_expires_at = None
        _, hard_limit = time_limits(job.kind)
        timed_out = job.started_at is not None and (
            timezone.now() - job.started_at >= timedelta(seconds=hard_limit)
        )
        if timed_out:
            # Celery's hard time limit killed the process: running it again would too.
            reason = f"the job ran past its time limit of {hard_limit} seconds and was killed"
        requeue = (
            not timed_out and job.cancel_requested_at is None and job.attempts < job.max_attempts
        )
        _end_attempt(job, f"{reason}; queued again" if requeue else reason)
        if requeue:
            job.state = Job.State.QUEUED
            job.worker = ""
            job.error = ""
            job.enqueued_at = timezone.now()
            _append_log_line(job, f"{reason}; queued again (attempt {job.attempts + 1} next)")
            job.save()
            audit_record(actor=REAPER, action="job.requeue", obj=job, data=data)
            send_after_commit(job)
            return "requeued"
        if timed_out:
            job.state, job.ok = Job.State.TIMED_OUT, False
        elif job.cancel_requested_at:
            job.state, job.ok = Job.State.CANCELLED, None
        else:
            job.state, job.ok = Job.State.FAILED, False
            reason = f"{reason}: {_what_to_do(job)}"
        job.summary = reason
        job.error = reason
        job.finished_at = timezone.now()
        _append_log_line(job, reason)
        job.save()
        record_job_end(job, actor=REAPER, data=data)
        return str(job.state)


def _drop_leftovers() -> int:
    """Scratch databases of jobs not running that were not dropped (a failed drop)."""
    dropped = 0
    rows = (
        Job.objects.exclude(state=Job.State.RUNNING)
        .exclude(scratch_databases=[])
        .values_list("pk", "scratch_databases")[:BATCH]
    )
    for pk, names in rows:
        left = set(drop_scratch_databases(list(names)))
        for name in names:
            if name in left:
                continue
            dropped += 1
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE migrations_ops_job SET scratch_databases = "
                    "array_remove(scratch_databases, %s::varchar) WHERE id = %s",
                    [name, pk],
                )
    return dropped


def jobs_reap() -> dict[str, int]:
    """Take back running jobs whose lease ran out; returns counts by what was done."""
    counts: dict[str, int] = {}
    expired = list(
        Job.objects.filter(state=Job.State.RUNNING, lease_expires_at__lt=Now())
        .order_by("lease_expires_at")
        .values_list("pk", flat=True)[:BATCH]
    )
    for pk in expired:
        done = _reap_one(pk)
        if done:
            counts[done] = counts.get(done, 0) + 1
            logger.warning("reaper: job %s %s after its lease ran out", pk, done)
    leftovers = _drop_leftovers()
    if leftovers:
        counts["scratch_dropped"] = leftovers
    return counts
