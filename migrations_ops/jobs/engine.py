"""Running one job on a worker: claim, run the runner with heartbeat and log, finish.

``job_execute`` is what the Celery task calls. It promises: a job runs at most once per
claim (a duplicate message finds it claimed and does nothing); everything the runner
says is stored as log lines, capped; the job ends in exactly one final state with its
result, audit event and the features' end hooks in one transaction; a runner's error
never escapes to Celery (the row says what happened). A worker that lost its lease
writes nothing more. An attempt cut off from the portal's own database (the connection
dropped while the runner, the heartbeat or the finish used it) is not the job's failure:
it is handed back to the reaper as if its worker had died, which re-queues it while the
kind has attempts left.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
    transaction,
)
from django.db.models.functions import Now

from migrations_ops.jobs.context import job_run_context, secret_values
from migrations_ops.jobs.dispatch import audit_job, record_job_end
from migrations_ops.jobs.kinds import job_runner, time_limits
from migrations_ops.jobs.lease import Claim, Heartbeat, job_claim
from migrations_ops.jobs.output import summary_for_all
from migrations_ops.jobs.scrub import scrub_paths
from migrations_ops.jobs.worklog import JobLog, bounded_result, cut_error, redact, redact_data
from migrations_ops.models import Job, attempt_ended
from migrations_ops.runners.base import JobCancelled, RunContext, RunnerError, RunResult
from release_portal.audit.services import Actor

logger = logging.getLogger(__name__)

FINISH_RETRIES = (0.5, 1.0, 2.0, 4.0)
LOST_PORTAL = "the worker lost its connection to the portal's database"
# SQLSTATEs of a connection that went away: class 08 (connection exception), and the
# server ending it (terminated by an administrator, crash, shutdown). An error without a
# SQLSTATE never reached the server: the client found the connection gone.
_LOST_CONNECTION_SQLSTATES = ("08", "57P01", "57P02", "57P03")


def portal_database_answers() -> bool:
    """Whether the portal's database answers now (on a fresh connection if need be)."""
    try:
        close_old_connections()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except (DatabaseError, InterfaceError):
        return False
    return True


def _connection_went_away(error: BaseException) -> bool:
    sqlstate = getattr(error, "sqlstate", None)
    return sqlstate is None or sqlstate.startswith(_LOST_CONNECTION_SQLSTATES)


def portal_outage(error: BaseException) -> bool:
    """Whether ``error`` is the portal's database going away rather than the job failing.

    Django's InterfaceError, and its OperationalError for a connection that went away,
    come from the portal's database (the only one Django connects to); a deadlock or a
    timeout there is not an outage. A bare psycopg error may come from a target a runner
    talks to: it counts only when the portal's database does not answer either.
    """
    if isinstance(error, InterfaceError):
        return True
    if isinstance(error, OperationalError):
        return _connection_went_away(error.__cause__ or error)
    if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        return _connection_went_away(error) and not portal_database_answers()
    return False


@dataclass
class Outcome:
    state: str
    summary: str
    ok: bool | None = None
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    portal_lost: bool = False  # cut off from the portal's database: for the reaper


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
        error=cut_error(scrub_paths(redact(detail, secrets))),
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
            summary=scrub_paths(redact(result.summary, secrets)),
            # A runner's data quotes output too (a check command's last lines), as much
            # as bundle content makes it: bounded before it reaches the portal's database.
            result=bounded_result(
                _jsonable(redact_data(_jsonable(result.data), secrets)),
                settings.JOB_RESULT_MAX_BYTES,
            ),
        )
    except RunnerError as e:
        message = cut_error(scrub_paths(redact(str(e), secrets)))
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
        if portal_outage(e):
            logger.warning("job %s: %s (%s)", job.pk, LOST_PORTAL, type(e).__name__)
            return Outcome(state=Job.State.RUNNING, summary=LOST_PORTAL, portal_lost=True)
        outcome = _internal_error(e, secrets)
        log.write("error", outcome.summary)
        log.write("error", outcome.error)
        return outcome


def job_finish(*, job_id: int, attempt: int, outcome: Outcome, worker: str) -> Job | None:
    """Record the end of the attempt; None when the job was no longer this worker's."""
    with transaction.atomic():
        ended = Job.objects.held(job_id, attempt).update(
            state=outcome.state,
            ok=outcome.ok,
            summary=outcome.summary[:500],
            error=outcome.error,
            result=outcome.result,
            finished_at=Now(),
            lease_expires_at=None,
            attempt_history=attempt_ended(outcome.state),
        )
        if not ended:
            return None
        job = Job.objects.select_related("project", "release", "target").get(pk=job_id)
        record_job_end(job, actor=Actor.system(f"worker {worker}"[:200]))
    return job


def _finish_with_retries(
    job: Job, claim: Claim, log: JobLog, outcome: Outcome, worker: str
) -> Job | None:
    for pause in (*FINISH_RETRIES, None):
        try:
            return job_finish(job_id=job.pk, attempt=claim.attempt, outcome=outcome, worker=worker)
        except (DatabaseError, InterfaceError):
            if pause is None:
                # The result is lost with the connection: the attempt goes back like a
                # dead worker's (a job that had succeeded runs again; nothing half-recorded).
                _hand_back(job, claim, log)
                return None
            logger.warning("job %s: could not record the result; retrying", job.pk)
            close_old_connections()
            time.sleep(pause)
        except Exception as e:
            # An end hook failed: end the job as failed, without the hooks,
            # rather than leave it running for the reaper.
            logger.exception("job %s: recording the result failed", job.pk)
            outcome = Outcome(
                state=Job.State.FAILED,
                ok=False,
                summary=f"internal error while recording the result: {type(e).__name__}",
                error=outcome.summary,
            )
            return _finish_without_hooks(job, claim, outcome, worker)
    return None


def _finish_without_hooks(job: Job, claim: Claim, outcome: Outcome, worker: str) -> Job | None:
    with transaction.atomic():
        if not Job.objects.held(job.pk, claim.attempt).update(
            state=outcome.state,
            ok=outcome.ok,
            summary=outcome.summary,
            error=outcome.error,
            finished_at=Now(),
            lease_expires_at=None,
            attempt_history=attempt_ended(outcome.state),
        ):
            return None
        job = Job.objects.get(pk=job.pk)
        audit_job(
            job,
            actor=Actor.system(f"worker {worker}"[:200]),
            action="job.finish",
            data={
                "kind": job.kind,
                "state": job.state,
                "ok": False,
                "summary": summary_for_all(job),
            },
        )
    return job


def _target_url(job: Job) -> str | None:
    """The URL to mask in the job's output. A disabled target has none: the job then
    fails, saying why, when its context is built."""
    if job.target is None or job.target.is_disabled:
        return None
    return job.target.database_url()


def _hand_back(job: Job, claim: Claim, log: JobLog) -> None:
    """Leave the attempt to the reaper as if its worker had died: it drops the attempt's
    scratch databases and re-queues the job while the kind has attempts left, else fails
    it saying why. When the database answers again the lease ends at once (and the reason
    is kept for the reaper); otherwise it runs out by itself."""
    logger.warning("job %s: %s; left for the reaper", job.pk, LOST_PORTAL)
    close_old_connections()
    why = f"{LOST_PORTAL} (attempt {claim.attempt})"
    log.write("error", why)
    log.close()
    try:
        Job.objects.filter(pk=job.pk, state=Job.State.RUNNING, attempts=claim.attempt).update(
            lease_expires_at=Now(), error=why
        )
    except (DatabaseError, InterfaceError):
        logger.warning("job %s: the database is still away; the lease will run out", job.pk)


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
    log.flush()  # now: a worker killed a moment later must not take this line with it
    heartbeat = Heartbeat(claim, log)
    heartbeat.start()
    try:
        outcome = _run(job, claim, log)
    finally:
        heartbeat.stop()
    if claim.lost or log.lost:
        logger.warning("job %s: another worker or the reaper took it over; result dropped", job_id)
        return None
    if outcome.portal_lost:
        _hand_back(job, claim, log)
        return None
    log.write("info", f"finished: {outcome.state}: {outcome.summary}")
    log.close()
    return _finish_with_retries(job, claim, log, outcome, worker)
