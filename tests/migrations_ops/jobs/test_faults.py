"""Faults with real processes: a Celery worker subprocess on a throwaway redis-server,
working on the test database. Never the shared Redis.

The worker reaches the test database through tests/migrations_ops/jobs/worker_settings.py,
which takes pytest-django's name for it from JOBS_WORKER_DATABASE_NAME; rows must be
committed for it to see them, hence transactional_db.
"""

import json
import shutil

import pytest
from django.db import connection, transaction
from django.urls import reverse

from migrations_ops.jobs import dispatch, job_enqueue, jobs_reap, jobs_sweep
from migrations_ops.models import Job, JobLogLine
from migrations_ops.pg import scratch
from release_portal.audit.models import AuditEvent
from tests.migrations_ops.jobs.processes import RedisServer, Worker, celery_broker, wait_for
from tests.migrations_ops.jobs.sample_runner import STARTED
from tests.services import need

pytestmark = [pytest.mark.usefixtures("transactional_db"), pytest.mark.timeout(90)]


@pytest.fixture
def redis_server():
    need("redis-server", shutil.which("redis-server") is not None, "install redis-server")
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def broker(redis_server):
    with celery_broker(redis_server.url):
        yield redis_server


@pytest.fixture
def start_worker(transactional_db, broker, tmp_path):
    workers = []

    def start(concurrency=1, queues="checks,backups,portal"):
        worker = Worker(
            broker_url=broker.url,
            database_name=connection.settings_dict["NAME"],
            log_path=tmp_path / f"worker-{len(workers)}.log",
            concurrency=concurrency,
            env={"JOB_LEASE_SECONDS": "3"},
            queues=queues,
        )
        workers.append(worker)
        return worker.start()

    yield start
    for worker in workers:  # before the database is flushed
        worker.stop()


def state_of(job):
    job.refresh_from_db()
    return job.state


def log_of(job):
    return list(JobLogLine.objects.filter(job=job).order_by("seq").values_list("text", flat=True))


def test_the_same_message_delivered_twice_runs_the_job_once(project, start_worker, tmp_path):
    flag = tmp_path / "go"
    worker = start_worker(concurrency=2)
    job = job_enqueue(kind="order", project=project, params={"hold_until": str(flag)})
    dispatch.job_send(job_id=job.pk, kind=job.kind, queue=job.queue)  # the duplicate
    wait_for(lambda: state_of(job) == "running", what="a worker to claim the job")
    flag.touch()
    wait_for(lambda: worker.tasks_done() >= 2, what="both messages to be consumed")
    assert state_of(job) == Job.State.SUCCEEDED
    assert job.attempts == 1
    assert log_of(job).count(STARTED) == 1
    assert AuditEvent.objects.filter(action="job.start").count() == 1


def test_a_killed_workers_job_is_taken_back_then_finished_elsewhere(
    project, start_worker, tmp_path
):
    flag = tmp_path / "go"
    first = start_worker()
    job = job_enqueue(
        kind="order", project=project, params={"scratch": True, "hold_until": str(flag)}
    )

    def recorded_scratch():
        job.refresh_from_db()
        return job.scratch_databases and job.scratch_databases[0]

    name = wait_for(recorded_scratch, what="the job to record its scratch database")
    wait_for(lambda: name in scratch.list_scratch_databases(), what="the scratch database")
    first.kill()

    wait_for(lambda: jobs_reap().get("requeued"), timeout=20, what="the lease to run out")
    job.refresh_from_db()
    assert (job.state, job.attempts, job.scratch_databases) == (Job.State.QUEUED, 1, [])
    assert name not in scratch.list_scratch_databases()
    assert any("the worker stopped responding" in line for line in log_of(job))

    flag.touch()
    start_worker()  # picks up the reaper's message
    wait_for(lambda: state_of(job) == "succeeded", timeout=30, what="the second attempt")
    assert job.attempts == 2
    assert job.scratch_databases == []
    # The second attempt made (and dropped) its own; the first one's was dropped by the reaper.
    ready = [line for line in log_of(job) if line.startswith("scratch database ready")]
    second = ready[-1].split("(")[1].rstrip(")")
    assert second != name
    assert not {name, second} & set(scratch.list_scratch_databases())
    # Each attempt's worker, start and end stay on the job: the killed one's too.
    first_attempt, second_attempt = job.attempt_rows
    assert first_attempt["worker"] != second_attempt["worker"]
    assert first_attempt["worker"].startswith("jobs-test-")
    assert first_attempt["ended_at"] <= second_attempt["started_at"]
    assert first_attempt["outcome"].startswith("the worker stopped responding")
    assert second_attempt["outcome"] == "succeeded"
    # Both "started on" lines were stored, the killed attempt's included.
    started = [line for line in log_of(job) if " started on " in line]
    assert [line.split(" started on ")[1] for line in started] == [
        f"{first_attempt['worker']} (attempt 1 of 2)",
        f"{second_attempt['worker']} (attempt 2 of 2)",
    ]


def test_the_reaper_runs_while_every_job_slot_is_busy(project, start_worker, tmp_path):
    """The job worker's only slot holds a long job. The reaper, as beat sends it, still
    runs at once on the portal's own queue and worker (as `make run` starts them): a
    killed worker's job is taken back without waiting for a job to end."""
    from migrations_ops import tasks

    flag = tmp_path / "go"
    start_worker(queues="checks,backups")
    housekeeping = start_worker(queues="portal")
    job = job_enqueue(kind="order", project=project, params={"hold_until": str(flag)})
    wait_for(lambda: state_of(job) == "running", what="the job to take the only job slot")

    tasks.jobs_reap.apply_async()  # what beat sends every JOB_REAP_EVERY_SECONDS

    wait_for(
        lambda: (
            "Task migrations_ops.tasks.jobs_reap[" in housekeeping.log()
            and housekeeping.tasks_done() == 1
        ),
        what="the reaper to run beside the busy job slot",
    )
    assert state_of(job) == "running"
    flag.touch()
    wait_for(lambda: state_of(job) == "succeeded", what="the job to end")


def test_a_start_while_redis_is_down_commits_and_the_sweep_sends_it_later(
    client, release_engineer, release, broker
):
    port = broker.port
    broker.stop()
    client.force_login(release_engineer)
    response = client.post(reverse("release_job_start", kwargs={"pk": release.pk}), {"kind": "rls"})
    assert response.status_code == 302  # the request did not fail
    job = Job.objects.get()
    assert job.state == Job.State.QUEUED
    assert AuditEvent.objects.filter(action="job.enqueue").count() == 1

    back = RedisServer(port).start()
    try:
        assert back.queue_length() == 0
        assert jobs_sweep(older_than_seconds=0) == [job.pk]
        wait_for(lambda: back.queue_length() == 1, timeout=5, what="the message in Redis")
        message = json.loads(back.client().lindex("checks", 0))
        assert message["headers"]["task"] == "migrations_ops.tasks.run_job"
        assert message["headers"]["argsrepr"] == f"({job.pk},)"
    finally:
        back.stop()


def test_a_rolled_back_enqueue_sends_nothing(project, broker):
    with pytest.raises(RuntimeError), transaction.atomic():
        job_enqueue(kind="order", project=project)
        raise RuntimeError("the request failed after queueing the job")
    assert not Job.objects.exists()
    assert broker.queue_length() == 0
    job = job_enqueue(kind="order", project=project)  # the same, committed, is sent
    assert broker.queue_length() == 1
    assert json.loads(broker.client().lindex("checks", 0))["headers"]["argsrepr"] == f"({job.pk},)"
