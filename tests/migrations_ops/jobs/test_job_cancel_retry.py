import pytest
from django.core.exceptions import ValidationError

from migrations_ops.jobs import job_cancel, job_retry
from migrations_ops.jobs.lease import job_claim
from migrations_ops.models import Job
from release_portal.audit.models import AuditEvent
from tests.migrations_ops.jobs.factories import JobFactory


def test_it_cancels_a_queued_job_at_once(release, staging, release_engineer, finished_signals):
    job = JobFactory(project=release.project, release=release, target=staging)
    job = job_cancel(job=job, user=release_engineer)
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED
    assert job.finished_at is not None
    assert "releng" in job.summary
    assert finished_signals == [(job.pk, "cancelled")]
    event = AuditEvent.objects.get(action="job.finish")
    assert event.actor_name == "releng"
    assert event.data["state"] == "cancelled"


def test_a_cancelled_job_is_never_claimed(release, release_engineer):
    job = JobFactory(project=release.project, release=release)
    job_cancel(job=job, user=release_engineer)
    assert job_claim(job_id=job.pk, worker="w1") is None


def test_it_asks_a_running_job_to_stop(release, release_engineer, finished_signals):
    job = job_claim(job_id=JobFactory(project=release.project, release=release).pk, worker="w")
    job = job_cancel(job=job, user=release_engineer)
    job.refresh_from_db()
    assert job.state == Job.State.RUNNING
    assert job.cancel_requested_at is not None
    assert finished_signals == []
    assert AuditEvent.objects.filter(action="job.cancel_request").count() == 1
    job_cancel(job=job, user=release_engineer)  # a second click changes nothing
    assert AuditEvent.objects.filter(action="job.cancel_request").count() == 1


def test_it_refuses_to_cancel_a_job_that_has_ended(release, release_engineer):
    job = JobFactory(project=release.project, release=release, state=Job.State.SUCCEEDED)
    with pytest.raises(ValidationError, match="already ended"):
        job_cancel(job=job, user=release_engineer)


def test_a_retry_is_a_new_job_linked_to_the_old_one(release, staging, qa_lead, sent):
    old = JobFactory(
        project=release.project,
        release=release,
        target=staging,
        kind="rls",
        state=Job.State.FAILED,
        params={"only": "notes"},
    )
    new = job_retry(job=old, user=qa_lead)
    assert new.pk != old.pk
    assert new.retry_of == old
    assert (new.kind, new.target, new.params, new.state) == (
        "rls",
        staging,
        {"only": "notes"},
        Job.State.QUEUED,
    )
    assert AuditEvent.objects.get(action="job.retry").data["new_job"] == new.pk
    assert AuditEvent.objects.get(action="job.enqueue").data["retry_of"] == old.pk


def test_it_retries_only_jobs_that_have_ended(release, qa_lead, sent):
    job = JobFactory(project=release.project, release=release, state=Job.State.RUNNING)
    with pytest.raises(ValidationError, match="still running"):
        job_retry(job=job, user=qa_lead)
    assert Job.objects.count() == 1


def test_a_retry_while_another_of_its_kind_runs_returns_that_one(release, staging, qa_lead, sent):
    old = JobFactory(project=release.project, release=release, target=staging, state="failed")
    active = JobFactory(project=release.project, release=release, target=staging)
    new = job_retry(job=old, user=qa_lead)
    assert new.pk == active.pk
    assert new.already_active
    assert not AuditEvent.objects.filter(action="job.retry").exists()
