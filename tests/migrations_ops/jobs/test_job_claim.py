"""Claiming a job, holding its lease, and the fencing that keeps a stale worker out."""

from datetime import timedelta

import pytest
from django.utils import timezone

from migrations_ops.jobs.lease import Claim, Heartbeat, job_claim
from migrations_ops.jobs.worklog import JobLog
from migrations_ops.models import Job, JobLogLine
from migrations_ops.runners.base import JobCancelled
from release_portal.audit.models import AuditEvent
from tests.migrations_ops.jobs.factories import JobFactory


def test_it_claims_a_queued_job_once(project):
    job = JobFactory(project=project)
    first = job_claim(job_id=job.pk, worker="w1")
    second = job_claim(job_id=job.pk, worker="w2")
    assert first is not None
    assert second is None
    job.refresh_from_db()
    assert (job.state, job.worker, job.attempts) == (Job.State.RUNNING, "w1", 1)
    assert job.lease_expires_at > timezone.now()
    assert AuditEvent.objects.filter(action="job.start").count() == 1


@pytest.mark.parametrize("state", ["running", "succeeded", "cancelled"])
def test_it_does_not_claim_a_job_that_is_not_queued(project, state):
    job = JobFactory(project=project, state=state)
    assert job_claim(job_id=job.pk, worker="w1") is None
    job.refresh_from_db()
    assert job.attempts == 0


def test_the_heartbeat_renews_the_lease(project):
    job = job_claim(job_id=JobFactory(project=project).pk, worker="w1")
    Job.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=5))
    claim = Claim(job)
    assert claim.renew()
    job.refresh_from_db()
    assert job.lease_expires_at > timezone.now() + timedelta(seconds=30)


def test_a_worker_whose_job_was_taken_back_cannot_renew_or_write(project):
    job = job_claim(job_id=JobFactory(project=project).pk, worker="w1")
    claim = Claim(job)
    log = JobLog(job, attempt=claim.attempt)
    # The reaper re-queued it and another worker claimed it: attempt 2.
    Job.objects.filter(pk=job.pk).update(state=Job.State.QUEUED)
    job_claim(job_id=job.pk, worker="w2")
    assert not claim.renew()
    assert claim.lost
    log.write("stdout", "late output from the old worker")
    log.flush()
    assert log.lost
    assert not JobLogLine.objects.filter(job=job).exists()
    with pytest.raises(JobCancelled):
        claim.scratch_created("rp_scratch_sample_x")
    job.refresh_from_db()
    assert job.scratch_databases == []


def test_the_heartbeat_thread_stops_when_asked(project):
    job = job_claim(job_id=JobFactory(project=project).pk, worker="w1")
    claim = Claim(job)
    beat = Heartbeat(claim, JobLog(job, attempt=claim.attempt))
    beat.start()
    beat.stop()
    assert not beat.is_alive()


def test_cancel_is_seen_at_most_once_a_second(project, django_assert_max_num_queries):
    job = job_claim(job_id=JobFactory(project=project).pk, worker="w1")
    claim = Claim(job)
    Job.objects.filter(pk=job.pk).update(cancel_requested_at=timezone.now())
    with django_assert_max_num_queries(0):
        # Asked right after the claim: no query, so no answer yet.
        assert not claim.cancelled()
        assert not claim.cancelled()
    claim._checked_at -= 2  # a second later
    assert claim.cancelled()


def test_scratch_databases_are_recorded_and_forgotten(project):
    job = job_claim(job_id=JobFactory(project=project).pk, worker="w1")
    claim = Claim(job)
    claim.scratch_created("rp_scratch_a_1")
    claim.scratch_created("rp_scratch_b_2")
    claim.scratch_dropped("rp_scratch_a_1")
    job.refresh_from_db()
    assert job.scratch_databases == ["rp_scratch_b_2"]
