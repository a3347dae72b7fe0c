"""Beat's sweep (lost messages) and reaper (dead workers)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from migrations_ops.jobs import jobs_reap, jobs_sweep
from migrations_ops.jobs.lease import job_claim
from migrations_ops.models import Job, JobLogLine
from migrations_ops.pg import pgtools, scratch
from release_portal.audit.models import AuditEvent
from tests.migrations_ops.jobs.factories import JobFactory


def ago(seconds):
    return timezone.now() - timedelta(seconds=seconds)


def test_the_sweep_resends_queued_jobs_whose_message_went_out_long_ago(
    project, sent, settings, django_capture_on_commit_callbacks
):
    settings.JOB_SWEEP_AFTER_SECONDS = 60
    lost = JobFactory(project=project, kind="order", enqueued_at=ago(600))
    never_sent = JobFactory(project=project, kind="secrets", enqueued_at=None)
    JobFactory(project=project, kind="drift", enqueued_at=ago(5))  # still on its way
    JobFactory(project=project, kind="rls", state="running", enqueued_at=ago(600))
    JobFactory(project=project, kind="pending", state="failed", enqueued_at=ago(600))
    with django_capture_on_commit_callbacks(execute=True):
        resent = jobs_sweep()
    assert sorted(resent) == sorted([lost.pk, never_sent.pk])
    assert sorted(job_id for job_id, _, _ in sent) == sorted([lost.pk, never_sent.pk])
    lost.refresh_from_db()
    assert lost.enqueued_at > ago(5)
    assert lost.state == Job.State.QUEUED


def test_the_sweep_does_not_resend_the_same_job_twice_in_a_row(project, sent):
    JobFactory(project=project, enqueued_at=ago(600))
    assert len(jobs_sweep(older_than_seconds=60)) == 1
    assert jobs_sweep(older_than_seconds=60) == []


def expire(job):
    Job.objects.filter(pk=job.pk).update(lease_expires_at=ago(10))
    job.refresh_from_db()
    return job


def running_job(project, **kwargs):
    job = JobFactory(project=project, **kwargs)
    return expire(job_claim(job_id=job.pk, worker="dead-worker"))


def test_the_reaper_requeues_a_job_whose_worker_died(
    project, sent, django_capture_on_commit_callbacks
):
    job = running_job(project)
    with django_capture_on_commit_callbacks(execute=True):
        counts = jobs_reap()
    assert counts == {"requeued": 1}
    job.refresh_from_db()
    assert (job.state, job.worker, job.attempts, job.lease_expires_at) == ("queued", "", 1, None)
    assert [job_id for job_id, _, _ in sent] == [job.pk]
    event = AuditEvent.objects.get(action="job.requeue")
    assert event.actor_name == "reaper"
    line = JobLogLine.objects.get(job=job)
    assert line.text.startswith("the worker stopped responding (lease expired at ")
    assert job.log_count == 1
    # The next worker claims it as attempt 2.
    assert job_claim(job_id=job.pk, worker="w2").attempts == 2


def test_the_reaper_fails_a_job_out_of_attempts_and_says_why(project, sent, finished_signals):
    job = running_job(project, max_attempts=2)
    Job.objects.filter(pk=job.pk).update(attempts=2)
    expired_at = job.lease_expires_at
    assert jobs_reap() == {"failed": 1}
    job.refresh_from_db()
    assert job.state == Job.State.FAILED
    assert job.ok is False
    stamp = expired_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    # What happened, and what to do: before, the page said only the first half.
    said = (
        f"the worker stopped responding (lease expired at {stamp}): that was its last attempt "
        "(2 of 2): Retry runs it again; if its worker stops again, the worker's log says why "
        "(killed, out of memory, restarted)"
    )
    assert (job.summary, job.error) == (said, said)
    assert JobLogLine.objects.filter(job=job).last().text == said
    # The attempt itself keeps the plain reason.
    assert (
        job.attempt_history[-1]["outcome"]
        == f"the worker stopped responding (lease expired at {stamp})"
    )
    assert finished_signals == [(job.pk, "failed")]
    assert AuditEvent.objects.get(action="job.finish").data["state"] == "failed"
    assert sent == []


def test_a_dead_job_of_one_attempt_says_to_look_at_its_target_first(project, sent):
    target = project.targets.create(name="production", kind="production", url_env_var="X_URL")
    job = running_job(project, kind="apply", target=target, max_attempts=1)
    jobs_reap()
    job.refresh_from_db()
    assert job.state == Job.State.FAILED
    assert job.summary.endswith(
        ": it may have changed production partway, so it is not run again by itself: run "
        "“Pending or failed migrations” on production to see what it applied, then start it "
        "again"
    )
    assert sent == []


def test_the_reaper_finishes_a_dead_job_that_was_being_cancelled_as_cancelled(project, sent):
    job = running_job(project)
    Job.objects.filter(pk=job.pk).update(cancel_requested_at=timezone.now())
    jobs_reap()
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED
    assert sent == []


def test_a_job_killed_by_its_hard_time_limit_is_timed_out_not_requeued(
    project, sent, settings, finished_signals
):
    settings.JOB_TIME_LIMITS = {"order": 60}
    settings.JOB_TIME_LIMIT_GRACE_SECONDS = 10
    job = running_job(project)
    Job.objects.filter(pk=job.pk).update(started_at=ago(71))
    assert jobs_reap() == {"timed_out": 1}
    job.refresh_from_db()
    assert job.state == Job.State.TIMED_OUT
    assert job.summary == "the job ran past its time limit of 70 seconds and was killed"
    assert finished_signals == [(job.pk, "timed_out")]
    assert sent == []


def test_the_reaper_leaves_jobs_with_a_live_lease_alone(project):
    job = job_claim(job_id=JobFactory(project=project).pk, worker="alive")
    assert jobs_reap() == {}
    job.refresh_from_db()
    assert job.state == Job.State.RUNNING


@pytest.fixture
def scratch_db():
    server = pgtools.scratch_server_url()
    name = scratch.scratch_name("reaper_test")
    scratch.create_database(server, name)
    yield name
    scratch.drop_database(server, name)  # IF EXISTS: a no-op when the reaper did it


def test_the_reaper_drops_the_scratch_databases_a_dead_job_recorded(project, sent, scratch_db):
    assert scratch_db in scratch.list_scratch_databases()
    job = running_job(project)
    Job.objects.filter(pk=job.pk).update(scratch_databases=[scratch_db])
    jobs_reap()
    assert scratch_db not in scratch.list_scratch_databases()
    job.refresh_from_db()
    assert job.scratch_databases == []
    assert AuditEvent.objects.get(action="job.requeue").data["scratch_dropped"] == [scratch_db]


def test_the_reaper_drops_what_an_ended_job_could_not(project, scratch_db):
    job = JobFactory(project=project, state="failed", scratch_databases=[scratch_db])
    assert jobs_reap() == {"scratch_dropped": 1}
    assert scratch_db not in scratch.list_scratch_databases()
    job.refresh_from_db()
    assert job.scratch_databases == []


def test_the_reaper_keeps_a_name_it_could_not_drop_for_next_time(project, monkeypatch):
    def refuse(server, name):
        raise ValueError("refusing")

    monkeypatch.setattr(scratch, "drop_database", refuse)
    job = JobFactory(project=project, state="failed", scratch_databases=["rp_scratch_x_1"])
    assert jobs_reap() == {}
    job.refresh_from_db()
    assert job.scratch_databases == ["rp_scratch_x_1"]
