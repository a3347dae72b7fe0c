"""A finished job becomes evidence for the items that name its kind, and never ticks them."""

import pytest

from checklists.models import Evidence
from checklists.proof import check_item
from checklists.services.migrations import release_upload_archive
from checklists.services.releases import release_create
from migrations_ops.jobs.engine import job_execute
from migrations_ops.jobs.services import job_enqueue
from tests.checklists.conftest import item
from tests.factories import DEMO_MIGRATIONS, published_runbook, supabase_archive


def evidence_reported():
    """Evidence reported by jobs and CI (a new release already holds its runbook's lint)."""
    return Evidence.objects.exclude(kind="runbook_lint")


ORDER_STEP = "confirm-supabase-migrations-order-chronological"


@pytest.fixture
def running_release(project, platform_lead, release_engineer):
    published_runbook(project)
    release = release_create(
        project=project,
        title="Jobs",
        owner=platform_lead,
        commit_sha="a" * 40,
        created_by=release_engineer,
    )
    release_upload_archive(
        release=release,
        data=supabase_archive(DEMO_MIGRATIONS),
        filename="s.zip",
        actor=release_engineer,
    )
    release.refresh_from_db()
    return release


@pytest.mark.django_db(transaction=True)
def test_a_real_order_job_attaches_passing_evidence(running_release, project, release_engineer):
    job = job_enqueue(
        kind="order", project=project, release=running_release, created_by=release_engineer
    )
    finished = job_execute(job_id=job.pk, worker="test-worker")
    assert finished is not None and finished.state == "succeeded", finished and finished.summary
    evidence = evidence_reported().get(item__release=running_release)
    assert evidence.kind == "job"
    assert evidence.job_id == job.pk
    assert evidence.status == "passed"
    assert evidence.digest == running_release.content_digest
    target = item(running_release, ORDER_STEP)
    assert target.state == "open"  # evidence never ticks
    assert target.evidence.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_failing_job_attaches_failed_evidence(running_release, project, release_engineer):
    # Two files with one version: the CLI refuses duplicate versions.
    files = dict(DEMO_MIGRATIONS)
    files["migrations/20250102000000_again.sql"] = "select 1;\n"
    release_upload_archive(
        release=running_release,
        data=supabase_archive(files),
        filename="s.zip",
        actor=release_engineer,
    )
    job = job_enqueue(
        kind="order", project=project, release=running_release, created_by=release_engineer
    )
    finished = job_execute(job_id=job.pk, worker="test-worker")
    assert finished.state == "failed"
    evidence = evidence_reported().get(item__release=running_release)
    assert evidence.status == "failed"
    assert "is used by 2 files" in evidence.summary


DRY_RUN_STEP = "validate-staged-migration-running-supabase"


@pytest.mark.django_db(transaction=True)
def test_a_dry_run_that_never_read_staging_is_no_proof(running_release, project, release_engineer):
    """Runbook §3: the dry run is "against staging". One started with no target (as a CI
    token may), or whose staging could not be read, applied the files on top of the
    migrations alone: shown on the step, it proves nothing about staging."""
    job = job_enqueue(
        kind="dry_run", project=project, release=running_release, created_by=release_engineer
    )
    finished = job_execute(job_id=job.pk, worker="test-worker")
    assert finished is not None and finished.state == "succeeded", finished and finished.summary
    assert finished.result["basis"] == "local_migrations"
    step = item(running_release, DRY_RUN_STEP)
    evidence = step.evidence.get(job=job)
    assert evidence.status == "info"
    assert "staging was not read" in evidence.summary
    assert not check_item(step).passed
