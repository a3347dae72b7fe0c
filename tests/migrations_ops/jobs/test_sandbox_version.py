"""A job's sandboxed cluster runs the PostgreSQL the project chose when there is no target,
and its result names the version and extensions it ran with."""

import pytest

from checklists.services.migrations import release_upload_archive
from checklists.services.releases import release_create
from migrations_ops.jobs.engine import job_execute
from migrations_ops.jobs.services import job_enqueue
from migrations_ops.models import Job
from migrations_ops.pg import installations
from tests.factories import DEMO_MIGRATIONS, published_runbook, supabase_archive

pytestmark = pytest.mark.django_db(transaction=True)

MAJORS = sorted({i.major for i in installations.installations()})


@pytest.mark.parametrize("major", MAJORS)
def test_an_rls_job_runs_on_the_projects_postgresql(project, platform_lead, major):
    project.sandbox_pg_major = major
    project.save()
    published_runbook(project)
    release = release_create(
        project=project, title="v", owner=platform_lead, commit_sha="c" * 40,
        created_by=platform_lead,
    )  # fmt: skip
    files = dict(DEMO_MIGRATIONS)
    files["tests/members.test.sql"] = "select 1 from app.members limit 0;\n"
    release_upload_archive(
        release=release, data=supabase_archive(files), filename="s.zip", actor=platform_lead
    )
    job = job_enqueue(kind=Job.Kind.RLS, project=project, release=release)

    job_execute(job_id=job.pk, worker="test")

    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED, job.summary
    sandbox = job.result["sandbox"]
    assert sandbox["mode"] == "bwrap" and sandbox["major"] == major
    assert "plpgsql" in sandbox["extensions"]
