"""A worker running a job in this process: real commits, the heartbeat thread included."""

import threading
import time

import pytest
from django.db import connection, connections

from migrations_ops.jobs import hooks, job_cancel, job_enqueue, job_execute
from migrations_ops.jobs import kinds as job_kinds
from migrations_ops.models import Job, JobLogLine
from migrations_ops.pg import scratch
from release_portal.audit.models import AuditEvent
from release_portal.audit.services import audit_record
from tests.migrations_ops.jobs.sample_runner import STARTED

pytestmark = pytest.mark.usefixtures("transactional_db", "sample_runner", "sent")

SECRET_URL = "postgresql://app:s3cret-pw@db.example.com:5432/staging"


def run(project, *, target=None, **params):
    job = job_enqueue(kind="order", project=project, target=target, params=params)
    job_execute(job_id=job.pk, worker="test-worker")
    job.refresh_from_db()
    return job


def log_of(job):
    return list(JobLogLine.objects.filter(job=job).order_by("seq").values_list("text", flat=True))


def test_it_runs_a_job_and_stores_its_result(project):
    job = run(project, summary="2 files in order", say=["hello"])
    assert (job.state, job.ok, job.summary) == (Job.State.SUCCEEDED, True, "2 files in order")
    assert job.result["files"] == ["a.sql", "b.sql"]
    assert job.finished_at is not None and job.lease_expires_at is None
    lines = log_of(job)
    assert STARTED in lines and "hello" in lines
    assert [r.seq for r in JobLogLine.objects.filter(job=job).order_by("seq")] == list(
        range(1, len(lines) + 1)
    )
    assert job.log_count == len(lines)
    event = AuditEvent.objects.get(action="job.finish")
    assert event.data["state"] == "succeeded"
    assert event.actor_name == "worker test-worker"


def test_a_failed_check_is_a_failed_job(project):
    job = run(project, ok=False, summary="1 file out of order")
    assert (job.state, job.ok, job.summary) == (Job.State.FAILED, False, "1 file out of order")


def test_a_runner_error_becomes_the_summary(project):
    job = run(project, fail="could not connect to staging (db:5432): refused")
    assert job.state == Job.State.FAILED
    assert job.summary == "could not connect to staging (db:5432): refused"
    assert job.summary in log_of(job)


def test_a_crash_is_an_internal_error_that_leaks_no_url(project, staging, monkeypatch):
    monkeypatch.setenv("JOBS_TEST_STAGING_URL", SECRET_URL)
    job = run(project, target=staging, crash=True, say_url=True)
    assert job.state == Job.State.FAILED
    assert job.summary == "internal error: ValueError"
    assert "sample_runner.py" in job.error  # where it happened
    stored = "\n".join([*log_of(job), job.error, job.summary])
    assert "s3cret-pw" not in stored
    assert "db.example.com" not in stored
    assert "connecting to [redacted]" in stored


def test_a_kind_without_a_runner_fails_with_that_message(project, monkeypatch, settings):
    settings.JOB_RUNNER_MODULES = {}

    def no_runner(kind):
        raise KeyError(f"no runner for job kind {kind!r}")

    monkeypatch.setattr(job_kinds, "get_runner", no_runner)
    job = run(project)
    assert (job.state, job.summary) == (Job.State.FAILED, "no runner for job kind 'order'")


def test_a_soft_time_limit_ends_the_job_as_timed_out(project):
    job = run(project, time_out=True)
    assert job.state == Job.State.TIMED_OUT
    assert "time limit" in job.summary


def test_it_caps_stored_output_and_says_how_much_was_left_out(project, settings):
    settings.JOB_LOG_MAX_LINES = 50
    job = run(project, lines=200)
    lines = log_of(job)
    assert len(lines) == 50
    assert job.log_count == 50 and job.log_truncated
    # Stored: two "started" lines and lines 1-47; dropped: lines 48-200 and "finished".
    assert lines[-1] == "[output truncated: 154 more lines not stored]"
    assert lines[-2] == "line 47"


def test_it_caps_stored_output_by_size_too(project, settings):
    settings.JOB_LOG_MAX_BYTES = 2000
    job = run(project, say=["x" * 900, "y" * 900, "z" * 900])
    assert job.log_truncated
    assert sum(len(t.encode()) for t in log_of(job)) <= 2000 + 100
    assert log_of(job)[-1].startswith("[output truncated: 2 more lines")


def test_it_strips_terminal_codes_and_keeps_html_as_text(project):
    job = run(project, say=["\x1b[31mred\x1b[0m <b>bold</b>", "!warning: a\nb"], say_nul=True)
    lines = JobLogLine.objects.filter(job=job).order_by("seq")
    texts = [line.text for line in lines]
    assert "red <b>bold</b>" in texts
    assert "beforeafter" in texts  # PostgreSQL text cannot hold NUL
    assert texts[texts.index("!warning: a") :][:2] == ["!warning: a", "b"]
    assert {line.stream for line in lines if line.text.startswith("!")} == {"stderr"}


def test_the_end_hooks_run_inside_the_finishing_transaction(project):
    seen = []

    def hook(job):
        seen.append((job.state, connection.in_atomic_block))

    hooks.on_job_end("test.seen", hook)
    try:
        run(project)
    finally:
        hooks.remove_job_end("test.seen")
    assert seen == [("succeeded", True)]


def test_a_failing_end_hook_rolls_back_the_success(project):
    def hook(job):
        audit_record(actor=None, action="evidence.attach", obj=job)  # a write, then a crash
        raise RuntimeError("evidence could not be attached")

    hooks.on_job_end("test.crash", hook)
    try:
        job = run(project)
    finally:
        hooks.remove_job_end("test.crash")
    assert job.state == Job.State.FAILED
    assert job.summary == "internal error while recording the result: RuntimeError"
    # One event, for the failure; the success and the receiver's work were rolled back.
    assert list(AuditEvent.objects.filter(action="job.finish").values_list("data__state")) == [
        ("failed",)
    ]
    assert not AuditEvent.objects.filter(action="evidence.attach").exists()


def test_scratch_databases_are_recorded_then_dropped(project):
    job = run(project, scratch=True, crash_in_scratch=True)
    assert job.state == Job.State.FAILED
    assert job.scratch_databases == []
    ready = next(line for line in log_of(job) if line.startswith("scratch database ready"))
    name = ready.split("(")[1].rstrip(")")
    assert name.startswith(scratch.PREFIX)
    # Other test runs may hold scratch databases of their own: look for this one only.
    assert name not in scratch.list_scratch_databases()


def test_a_duplicate_message_does_not_run_the_job_again(project):
    job = run(project)
    assert job_execute(job_id=job.pk, worker="another-worker") is None
    job.refresh_from_db()
    assert job.attempts == 1
    assert log_of(job).count(STARTED) == 1


def test_a_running_job_stops_at_its_next_check_when_cancelled(project, release_engineer):
    job = job_enqueue(kind="order", project=project, params={"hold_until_cancelled": True})

    def work():
        try:
            job_execute(job_id=job.pk, worker="thread")
        finally:
            connections.close_all()  # this thread's connections

    worker = threading.Thread(target=work)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.state == Job.State.RUNNING:
                break
            time.sleep(0.05)
        job_cancel(job=job, user=release_engineer)
    finally:
        worker.join(timeout=15)
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED
    assert job.summary == "cancelled on request"
