"""Issue 13 case 2: a job runs the content it was queued for, on every attempt.

Evidence laundering was: queue a check for a failing bundle, upload a good one while it
waits (the job then ran the good one), upload the failing one again: the failing bundle
carried "passed" evidence. The reaper's second attempt had the same flaw.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from checklists.models import Evidence
from checklists.services.migrations import release_upload_archive
from migrations_ops.jobs import jobs_reap
from migrations_ops.jobs.engine import job_execute
from migrations_ops.jobs.lease import job_claim
from migrations_ops.jobs.services import job_enqueue
from migrations_ops.models import Job
from tests.deploy_fixtures import (  # noqa: F401  (the staging database fixtures)
    make_database,
    server_url,
    staging_db,
    staging_target,
)
from tests.factories import DEMO_MIGRATIONS, supabase_archive

# Two files with one version: the migration-order check refuses it.
FAILING = {**DEMO_MIGRATIONS, "migrations/20250102000000_again.sql": "select 1;\n"}


def upload(release, files, actor):
    release_upload_archive(
        release=release, data=supabase_archive(files), filename="s.zip", actor=actor
    )
    release.refresh_from_db()
    return release.content_digest


def passed_for(release, digest):
    return Evidence.objects.filter(
        item__release=release, kind="job", status="passed", digest=digest
    )


@pytest.mark.django_db(transaction=True)
def test_it_runs_the_bundle_it_was_queued_for_not_the_one_uploaded_since(
    release_with_files, project, release_engineer
):
    release = release_with_files
    failing_digest = upload(release, FAILING, release_engineer)
    job = job_enqueue(kind="order", project=project, release=release, created_by=release_engineer)
    assert job.content_digest == failing_digest
    # A good bundle arrives while the job waits in the queue.
    good_digest = upload(release, DEMO_MIGRATIONS, release_engineer)
    assert good_digest != failing_digest

    finished = job_execute(job_id=job.pk, worker="test-worker")

    assert finished.state == "failed", finished.summary
    assert "is used by 2 files" in finished.summary
    # The failing bundle comes back: it carries the failure, never a pass.
    assert upload(release, FAILING, release_engineer) == failing_digest
    assert not passed_for(release, failing_digest).exists()
    evidence = Evidence.objects.get(item__release=release, kind="job", job=job)
    assert (evidence.status, evidence.digest) == ("failed", failing_digest)


@pytest.mark.django_db(transaction=True)
def test_the_reapers_second_attempt_runs_the_same_bundle(
    release_with_files, project, release_engineer
):
    release = release_with_files
    failing_digest = upload(release, FAILING, release_engineer)
    job = job_enqueue(kind="order", project=project, release=release, created_by=release_engineer)
    # The first attempt's worker dies; the reaper queues the job again.
    job_claim(job_id=job.pk, worker="dead-worker")
    Job.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=10))
    assert jobs_reap() == {"requeued": 1}
    # Meanwhile a good bundle is uploaded.
    upload(release, DEMO_MIGRATIONS, release_engineer)

    finished = job_execute(job_id=job.pk, worker="second-worker")

    assert finished.attempts == 2
    assert finished.state == "failed", finished.summary
    assert "is used by 2 files" in finished.summary
    assert upload(release, FAILING, release_engineer) == failing_digest
    assert not passed_for(release, failing_digest).exists()


@pytest.mark.django_db(transaction=True)
def test_a_good_bundle_queued_and_then_replaced_still_passes_for_its_own_digest(
    release_with_files, project, release_engineer
):
    release = release_with_files
    good_digest = release.content_digest
    job = job_enqueue(kind="order", project=project, release=release, created_by=release_engineer)
    failing_digest = upload(release, FAILING, release_engineer)

    finished = job_execute(job_id=job.pk, worker="test-worker")

    assert finished.state == "succeeded", finished.summary
    assert passed_for(release, good_digest).exists()
    assert not passed_for(release, failing_digest).exists()


@pytest.mark.django_db(transaction=True)
def test_a_dry_run_runs_the_bundle_it_was_queued_for(
    release_with_files,
    project,
    release_engineer,
    staging_target,  # noqa: F811
    staging_db,  # noqa: F811
):
    """The issue's own story: a dry run queued for a failing bundle, a good one uploaded
    while it waits, the failing one uploaded again afterwards."""
    release = release_with_files
    broken = {**DEMO_MIGRATIONS, "migrations/20250103000000_broken.sql": "select * from nowhere;\n"}
    failing_digest = upload(release, broken, release_engineer)
    job = job_enqueue(
        kind="dry_run",
        project=project,
        release=release,
        target=staging_target,
        created_by=release_engineer,
    )
    upload(release, DEMO_MIGRATIONS, release_engineer)

    finished = job_execute(job_id=job.pk, worker="test-worker")

    assert finished.state == "failed", finished.summary
    assert "20250103000000_broken.sql" in finished.summary
    assert upload(release, broken, release_engineer) == failing_digest
    assert not passed_for(release, failing_digest).exists()
