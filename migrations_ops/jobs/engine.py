"""Running one job on a worker: claim, run the runner with heartbeat and log, finish.

``job_execute`` is what the Celery task calls. It promises: a job runs at most once per
claim (a duplicate message finds it claimed and does nothing); everything the runner
says is stored as log lines, capped; the job ends in exactly one final state with its
result, audit event and ``job_finished`` signal in one transaction; a runner's error
never escapes to Celery (the row says what happened). A worker that lost its lease
writes nothing more.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.db import DatabaseError, close_old_connections, transaction
from django.db.models.functions import Now

from migrations_ops.jobs.context import job_run_context, secret_values
from migrations_ops.jobs.dispatch import record_job_end
from migrations_ops.jobs.kinds import job_runner, time_limits
from migrations_ops.jobs.lease import Claim, Heartbeat, job_claim
from migrations_ops.jobs.worklog import JobLog, redact, redact_data
from migrations_ops.models import Job
from migrations_ops.runners.base import JobCancelled, RunContext, RunnerError, RunResult
from release_portal.audit.services import Actor, audit_record

logger = logging.getLogger(__name__)

FINISH_RETRIES = (0.5, 1.0, 2.0, 4.0)


@dataclass
class Outcome:
    state: str
    summary: str
    ok: bool | None = None
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def _jsonable(data: Any) -> dict[str, Any]:
    """The runner's data as plain JSON (paths, dates and the like become text).

    NUL characters (bundle code printing /proc/*/environ, say) become U+FFFD: PostgreSQL's
    JSON cannot hold them, and the result must still be stored."""
    value = _without_nul(json.loads(json.dumps(data, default=str)))
    return value if isinstance(value, dict) else {"value": value}


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    return value


def _internal_error(e: BaseException, secrets: list[str]) -> Outcome:
    # The frames say where; the message may quote a URL, so it goes to the worker's log
    # (redacted) and not to the page.
    frames = "".join(traceback.format_tb(e.__traceback__))
    detail = f"Traceback (most recent call last):\n{frames}{type(e).__name__}"
    logger.error("job runner crashed: %s", redact("".join(traceback.format_exception(e)), secrets))
    return Outcome(
        state=Job.State.FAILED,
        ok=False,
        summary=f"internal error: {type(e).__name__}",
        error=redact(detail, secrets),
    )


def _run_in_context(runner: Callable[[RunContext], RunResult], ctx: RunContext) -> RunResult:
    """Run the runner; a sandbox stopped for breaking its limits says so in the result."""
    sandbox = ctx.sandbox
    try:
        result = runner(ctx)
    except Exception:
        if sandbox is not None and sandbox.timed_out:
            raise SoftTimeLimitExceeded() from None
        if sandbox is not None and sandbox.violation:
            raise RunnerError(sandbox.violation) from None
        raise
    if sandbox is not None:
        if sandbox.timed_out:
            raise SoftTimeLimitExceeded()
        if sandbox.violation:
            raise RunnerError(sandbox.violation)
        if isinstance(result, RunResult) and sandbox.cluster_started:
            result.data.setdefault("sandbox", sandbox.describe())
    return result


def _run(job: Job, claim: Claim, log: JobLog) -> Outcome:
    try:
        runner = job_runner(job.kind)
    except KeyError as e:
        message = str(e.args[0])
        log.write("error", message)
        return Outcome(state=Job.State.FAILED, ok=False, summary=message, error=message)
    secrets = log.secrets
    try:
        with job_run_context(
            job,
            log=log.write,
            cancelled=claim.cancelled,
            scratch_created=claim.scratch_created,
            scratch_dropped=claim.scratch_dropped,
        ) as ctx:
            result = _run_in_context(runner, ctx)
        if not isinstance(result, RunResult):
            raise TypeError(f"the runner returned {type(result).__name__}, not a RunResult")
        return Outcome(
            state=Job.State.SUCCEEDED if result.ok else Job.State.FAILED,
            ok=result.ok,
            summary=redact(result.summary, secrets),
            # A runner's data quotes output too (a check command's last lines).
            result=_jsonable(redact_data(_jsonable(result.data), secrets)),
        )
    except RunnerError as e:
        message = redact(str(e), secrets)
        log.write("error", message)
        return Outcome(state=Job.State.FAILED, ok=False, summary=message, error=message)
    except JobCancelled:
        log.write("info", "cancelled on request")
        return Outcome(state=Job.State.CANCELLED, summary="cancelled on request")
    except SoftTimeLimitExceeded:
        soft, _ = time_limits(job.kind)
        message = f"the job ran past its time limit of {soft} seconds and was stopped"
        log.write("error", message)
        return Outcome(state=Job.State.TIMED_OUT, ok=False, summary=message, error=message)
    except Exception as e:
        outcome = _internal_error(e, secrets)
        log.write("error", outcome.summary)
        log.write("error", outcome.error)
        return outcome


def job_finish(*, job_id: int, attempt: int, outcome: Outcome, worker: str) -> Job | None:
    """Record the end of the attempt; None when the job was no longer this worker's."""
    with transaction.atomic():
        ended = Job.objects.filter(pk=job_id, state=Job.State.RUNNING, attempts=attempt).update(
            state=outcome.state,
            ok=outcome.ok,
            summary=outcome.summary[:500],
            error=outcome.error,
            result=outcome.result,
            finished_at=Now(),
            lease_expires_at=None,
        )
        if not ended:
            return None
        job = Job.objects.select_related("project", "release", "target").get(pk=job_id)
        record_job_end(job, actor=Actor.system(f"worker {worker}"[:200]))
    return job


def _finish_with_retries(job: Job, claim: Claim, outcome: Outcome, worker: str) -> Job | None:
    for pause in (*FINISH_RETRIES, None):
        try:
            return job_finish(job_id=job.pk, attempt=claim.attempt, outcome=outcome, worker=worker)
        except DatabaseError:
            if pause is None:
                raise
            logger.warning("job %s: could not record the result; retrying", job.pk)
            close_old_connections()
            time.sleep(pause)
        except Exception as e:
            # A job_finished receiver failed: end the job as failed, without receivers,
            # rather than leave it running for the reaper.
            logger.exception("job %s: recording the result failed", job.pk)
            outcome = Outcome(
                state=Job.State.FAILED,
                ok=False,
                summary=f"internal error while recording the result: {type(e).__name__}",
                error=outcome.summary,
            )
            return _finish_without_receivers(job, claim, outcome, worker)
    return None


def _finish_without_receivers(job: Job, claim: Claim, outcome: Outcome, worker: str) -> Job | None:
    with transaction.atomic():
        ended = Job.objects.filter(pk=job.pk, state=Job.State.RUNNING, attempts=claim.attempt)
        if not ended.update(
            state=outcome.state,
            ok=outcome.ok,
            summary=outcome.summary,
            error=outcome.error,
            finished_at=Now(),
            lease_expires_at=None,
        ):
            return None
        job = Job.objects.get(pk=job.pk)
        audit_record(
            actor=Actor.system(f"worker {worker}"[:200]),
            action="job.finish",
            obj=job,
            project=job.project_id,
            release=job.release_id,
            data={"kind": job.kind, "state": job.state, "ok": False, "summary": job.summary},
        )
    return job


def _target_url(job: Job) -> str | None:
    """The URL to mask in the job's output. A disabled target has none: the job then
    fails, saying why, when its context is built."""
    if job.target is None or job.target.is_disabled:
        return None
    return job.target.database_url()


def job_execute(*, job_id: int, worker: str) -> Job | None:
    """Claim and run job ``job_id``; None when there was nothing for this worker to do."""
    job = job_claim(job_id=job_id, worker=worker)
    if job is None:
        logger.info("job %s is not queued (already taken, or ended): nothing to do", job_id)
        return None
    claim = Claim(job)
    log = JobLog(job, attempt=claim.attempt, secrets=secret_values(job, _target_url(job)))
    log.write(
        "info",
        f"{job.get_kind_display()} #{job.pk} started on {worker} "
        f"(attempt {claim.attempt} of {max(job.max_attempts, claim.attempt)})",
    )
    heartbeat = Heartbeat(claim, log)
    heartbeat.start()
    try:
        outcome = _run(job, claim, log)
    finally:
        heartbeat.stop()
    if claim.lost or log.lost:
        logger.warning("job %s: another worker or the reaper took it over; result dropped", job_id)
        return None
    log.write("info", f"finished: {outcome.state}: {outcome.summary}")
    log.close()
    return _finish_with_retries(job, claim, outcome, worker)
