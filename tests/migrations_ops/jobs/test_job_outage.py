"""The portal's own database going away under a running job: the attempt counts as a lost
worker (the reaper re-queues it while attempts remain), never "internal error". The
outages are real: the worker's backend connections are terminated with
pg_terminate_backend from another connection."""

from __future__ import annotations

import contextlib
import threading

import psycopg
import psycopg.sql
import pytest
from django.db import connection, connections
from django.db.models.functions import Now

from migrations_ops.jobs import engine, job_enqueue, job_execute, jobs_reap
from migrations_ops.models import Job, JobLogLine
from migrations_ops.pg import pgtools
from release_portal.audit.models import AuditEvent
from tests.migrations_ops.jobs.processes import wait_for
from tests.migrations_ops.jobs.sample_runner import STARTED

pytestmark = [
    pytest.mark.usefixtures("transactional_db", "sample_runner", "sent"),
    pytest.mark.timeout(60),
]


def portal_url() -> str:
    return pgtools.portal_server_url(str(connection.settings_dict["NAME"]))


# Connections opened before the test are not the worker's: the session's live server
# (the browser tests') keeps its connection through the outage.
SINCE: dict[str, object] = {}


@pytest.fixture(autouse=True)
def _since():
    with psycopg.connect(portal_url(), autocommit=True) as conn:
        SINCE["at"] = conn.execute("SELECT now()").fetchone()[0]


def terminate(admin: psycopg.Connection, pids: list[int]) -> None:
    """End the backends ``pids`` and wait until they are gone (the signal is asynchronous)."""
    for pid in pids:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    wait_for(
        lambda: (
            not admin.execute(
                "SELECT 1 FROM pg_stat_activity WHERE pid = ANY(%s)", [pids]
            ).fetchone()
        ),
        what="the terminated backends to exit",
    )


def terminate_other_backends() -> int:
    """End every connection to the test database but this test's own: an outage for the
    worker (its runner's connection and its heartbeat's alike)."""
    connection.ensure_connection()
    mine = connection.connection.info.backend_pid
    with psycopg.connect(portal_url(), autocommit=True) as admin:
        pids = [
            pid
            for (pid,) in admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND pid <> %s AND backend_start >= %s",
                [mine, SINCE["at"]],
            )
        ]
        terminate(admin, pids)
    return len(pids)


def log_of(job):
    return list(JobLogLine.objects.filter(job=job).order_by("seq").values_list("text", flat=True))


class WorkerThread(threading.Thread):
    """job_execute on its own thread (its own connections), keeping what it raised."""

    def __init__(self, job_id: int) -> None:
        super().__init__(daemon=True)
        self.job_id = job_id
        self.raised: BaseException | None = None

    def run(self) -> None:
        try:
            job_execute(job_id=self.job_id, worker="outage-test")
        except BaseException as e:
            self.raised = e
        finally:
            connections.close_all()


def run_through_an_outage(job) -> None:
    """Start ``job`` and cut the worker off from the database while its runner works (the
    runner asks the database whether it was cancelled once a second)."""
    worker = WorkerThread(job.pk)
    worker.start()
    wait_for(lambda: STARTED in log_of(job), what="the runner to start")
    assert terminate_other_backends() >= 1
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert worker.raised is None, f"job_execute raised {worker.raised!r}"


def test_a_job_cut_off_from_the_database_mid_run_is_queued_again(project, tmp_path, sent):
    job = job_enqueue(kind="order", project=project,
                      params={"hold_until": str(tmp_path / "never"), "hold_max": 20})  # fmt: skip
    run_through_an_outage(job)
    job.refresh_from_db()
    assert job.state == Job.State.RUNNING and "internal error" not in job.summary
    assert "lost its connection to the portal's database" in job.error
    # Handed back at once: the reaper need not wait for the lease to run out.
    assert jobs_reap() == {"requeued": 1}
    job.refresh_from_db()
    assert (job.state, job.attempts, job.error) == (Job.State.QUEUED, 1, "")
    assert any("lost its connection to the portal's database" in line for line in log_of(job))
    assert any("queued again (attempt 2 next)" in line for line in log_of(job))
    assert [s for s in sent if s[0] == job.pk][-1][1] == "order"
    assert not AuditEvent.objects.filter(action="job.finish").exists()


def test_a_single_attempt_job_cut_off_mid_run_fails_saying_why(project, tmp_path):
    job = job_enqueue(kind="apply", project=project,
                      params={"hold_until": str(tmp_path / "never"), "hold_max": 20})  # fmt: skip
    run_through_an_outage(job)
    assert jobs_reap() == {"failed": 1}
    job.refresh_from_db()
    assert job.state == Job.State.FAILED
    assert job.summary.startswith("the worker lost its connection to the portal's database")
    assert "internal error" not in job.summary


@contextlib.contextmanager
def outage_switch():
    """A function that takes the test database away from everyone but this test: no new
    connections, every other one ended. Connections are allowed again after the block."""
    name = connection.settings_dict["NAME"]
    connection.ensure_connection()
    mine = connection.connection.info.backend_pid
    allow = psycopg.sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}")
    with psycopg.connect(pgtools.portal_server_url("postgres"), autocommit=True) as admin:

        def go_away() -> None:
            admin.execute(allow.format(psycopg.sql.Identifier(name), psycopg.sql.SQL("false")))
            others = admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> %s "
                "AND backend_start >= %s",
                [name, mine, SINCE["at"]],
            ).fetchall()
            terminate(admin, [pid for (pid,) in others])

        try:
            yield go_away
        finally:
            admin.execute(allow.format(psycopg.sql.Identifier(name), psycopg.sql.SQL("true")))


def test_an_outage_while_recording_the_result_leaves_the_job_for_the_reaper(
    project, monkeypatch, settings
):
    settings.JOB_LEASE_SECONDS = 2
    monkeypatch.setattr(engine, "FINISH_RETRIES", (0.05, 0.05))
    real_finish = engine.job_finish
    tries = []
    job = job_enqueue(kind="order", project=project, params={"summary": "all in order"})
    with outage_switch() as go_away:

        def finish_during_an_outage(**kwargs):
            if not tries:  # the runner is done; the database goes away, and stays away
                go_away()
            tries.append(kwargs["outcome"].state)
            return real_finish(**kwargs)

        monkeypatch.setattr(engine, "job_finish", finish_during_an_outage)
        worker = WorkerThread(job.pk)
        worker.start()
        worker.join(timeout=30)
    assert worker.raised is None, f"job_execute raised {worker.raised!r}"
    assert tries == ["succeeded"] * 3
    job.refresh_from_db()
    assert job.state == Job.State.RUNNING and job.finished_at is None
    # Nobody could say so: the lease runs out by itself, and the reaper takes it back.
    wait_for(lambda: Job.objects.filter(pk=job.pk, lease_expires_at__lt=Now()).exists(),
             what="the lease to run out")  # fmt: skip
    assert jobs_reap() == {"requeued": 1}
    job.refresh_from_db()
    assert job.state == Job.State.QUEUED


def test_a_target_going_away_is_still_the_jobs_own_failure(project):
    job = job_enqueue(kind="order", project=project, params={"target_outage": True})
    job_execute(job_id=job.pk, worker="test-worker")
    job.refresh_from_db()
    assert job.state == Job.State.FAILED
    assert job.summary == "internal error: OperationalError"
