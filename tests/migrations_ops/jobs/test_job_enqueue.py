import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from migrations_ops.jobs import job_enqueue, preflight_start
from migrations_ops.jobs.kinds import KINDS, PREFLIGHT_KINDS
from migrations_ops.models import Job
from release_portal.audit.models import AuditEvent
from tests.migrations_ops.jobs.factories import ReleaseFactory, StagingFactory


def test_it_queues_a_job_with_the_content_digest_and_sends_it_after_commit(
    release, staging, release_engineer, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job = job_enqueue(
            kind="dry_run",
            project=release.project,
            release=release,
            target=staging,
            created_by=release_engineer,
        )
        assert sent == []  # nothing leaves before the commit
    assert len(callbacks) == 1
    assert sent == [(job.pk, "dry_run", "checks")]
    job.refresh_from_db()
    assert job.state == Job.State.QUEUED
    assert job.content_digest == release.content_digest
    assert job.enqueued_at is not None
    assert job.created_by == release_engineer
    assert job.created_by_name == "releng"
    assert not job.already_active


def test_it_writes_an_audit_event_in_the_same_transaction(release, staging, qa_lead, sent):
    job = job_enqueue(kind="rls", project=release.project, release=release, created_by=qa_lead)
    event = AuditEvent.objects.get(action="job.enqueue")
    assert event.object_id == str(job.pk)
    assert event.release_id == release.pk
    assert event.actor_name == "qa"
    assert event.data["kind"] == "rls"


def test_it_returns_the_active_job_instead_of_starting_a_second_one(
    release, staging, release_engineer, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = job_enqueue(kind="order", project=release.project, release=release, target=staging)
        second = job_enqueue(kind="order", project=release.project, release=release, target=staging)
    assert second.pk == first.pk
    assert second.already_active
    assert Job.objects.count() == 1
    assert len(sent) == 1
    assert AuditEvent.objects.filter(action="job.enqueue").count() == 1


def test_it_starts_again_once_the_earlier_job_has_ended(release, staging, sent):
    first = job_enqueue(kind="order", project=release.project, release=release, target=staging)
    Job.objects.filter(pk=first.pk).update(state=Job.State.FAILED)
    second = job_enqueue(kind="order", project=release.project, release=release, target=staging)
    assert second.pk != first.pk
    assert not second.already_active


def test_the_database_refuses_two_active_jobs_of_a_kind(release, staging):
    from django.db import IntegrityError

    Job.objects.create(project=release.project, release=release, target=staging, kind="order")
    with pytest.raises(IntegrityError, match="job_one_active_per_kind"), transaction.atomic():
        Job.objects.create(project=release.project, release=release, target=staging, kind="order")


def test_it_sends_nothing_when_the_transaction_rolls_back(
    release, sent, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        job_enqueue(kind="order", project=release.project, release=release)
        raise RuntimeError("the request failed after queueing")
    assert callbacks == []
    assert sent == []
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    ("kind", "queue", "attempts"),
    [("dry_run", "checks", 2), ("backup", "backups", 2), ("apply", "backups", 1)],
)
def test_it_routes_each_kind_to_its_queue(project, sent, kind, queue, attempts):
    job = job_enqueue(kind=kind, project=project)
    assert (job.queue, job.max_attempts) == (queue, attempts)


def test_it_refuses_a_target_of_another_project(release, other_project):
    foreign = StagingFactory(project=other_project)
    with pytest.raises(ValidationError, match="another project"):
        job_enqueue(kind="order", project=release.project, release=release, target=foreign)
    other_release = ReleaseFactory(project=other_project)
    with pytest.raises(ValidationError, match="another project"):
        job_enqueue(kind="order", project=release.project, release=other_release)


def test_it_refuses_unknown_kinds_and_parameters_that_are_not_json(project):
    with pytest.raises(ValidationError, match="unknown job kind"):
        job_enqueue(kind="format_disk", project=project)
    with pytest.raises(ValidationError, match="JSON"):
        job_enqueue(kind="order", project=project, params={"when": object()})


def test_preflight_queues_the_runbook_checks_against_staging(
    release, staging, release_engineer, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        jobs = preflight_start(release=release, user=release_engineer)
    assert [job.kind for job in jobs] == list(PREFLIGHT_KINDS)
    assert {
        "order", "commands", "dry_run", "fixtures", "pending", "secrets", "rls", "drift",
        "risk", "access",
    } == {job.kind for job in jobs}  # fmt: skip
    assert all(job.target == staging and job.release == release for job in jobs)
    assert len(sent) == len(PREFLIGHT_KINDS)
    event = AuditEvent.objects.get(action="release.preflight_start")
    assert event.data["jobs"]["dry_run"] == next(j.pk for j in jobs if j.kind == "dry_run")


def test_preflight_twice_starts_nothing_new(release, staging, release_engineer, sent):
    first = preflight_start(release=release, user=release_engineer)
    again = preflight_start(release=release, user=release_engineer)
    assert [j.pk for j in again] == [j.pk for j in first]
    assert all(j.already_active for j in again)
    assert Job.objects.count() == len(PREFLIGHT_KINDS)


def test_preflight_says_what_to_do_without_a_staging_target(project, release_engineer):
    release = ReleaseFactory(project=project)
    with pytest.raises(ValidationError, match="no staging target"):
        preflight_start(release=release, user=release_engineer)
    assert not Job.objects.exists()


def test_the_portals_own_tasks_never_wait_behind_jobs(settings):
    """Beat's tasks (the reaper, the sweep, monitoring samples, mails, webhooks, audit
    checkpoints) go to the portal's own queue, which no job uses; jobs go to theirs."""
    from release_portal.celery import app

    def queue_of(task):
        return app.amqp.router.route({}, task)["queue"].name

    beat = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "migrations_ops.tasks.jobs_reap" in beat
    assert {task: queue_of(task) for task in beat} == dict.fromkeys(beat, "portal")
    job_queues = {spec.queue for spec in KINDS.values()}
    assert job_queues == set(settings.JOB_QUEUES) and "portal" not in job_queues
    assert queue_of("migrations_ops.tasks.run_job") in job_queues
