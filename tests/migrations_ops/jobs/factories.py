"""Small factories for job tests (shared release factories will live in tests/factories.py)."""

from __future__ import annotations

import factory

from checklists.bundles import BundleFile
from checklists.models import Release, RunbookVersion
from checklists.services.migrations import bundle_store
from migrations_ops.models import Job, JobLogLine, Target
from tests.factories import ProjectFactory, UserFactory

MIGRATION = "create table app.notes (id bigint primary key);\n"


class RunbookVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RunbookVersion
        django_get_or_create = ("project", "number")

    project = factory.SubFactory(ProjectFactory)
    number = 1
    title = "Database Migration Runbook"
    source = ""
    source_sha256 = "0" * 64


class ReleaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Release

    project = factory.SubFactory(ProjectFactory)
    title = factory.Sequence(lambda n: f"Release {n}")
    owner = factory.SubFactory(UserFactory, username="owner")
    commit_sha = factory.Sequence(lambda n: f"{n:040x}")
    runbook_version = factory.LazyAttribute(lambda r: RunbookVersionFactory(project=r.project))
    digest = factory.Sequence(lambda n: f"{n:064x}")
    content_digest = factory.Sequence(lambda n: f"{n + 1:064x}")


class StagingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Target
        django_get_or_create = ("project", "name")

    project = factory.SubFactory(ProjectFactory)
    name = "staging"
    kind = Target.Kind.STAGING
    url_env_var = "JOBS_TEST_STAGING_URL"


class JobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Job

    project = factory.SubFactory(ProjectFactory)
    kind = Job.Kind.ORDER
    state = Job.State.QUEUED
    release = None
    # As job_enqueue pins it: the release's bundle when the job is made.
    bundle = factory.LazyAttribute(lambda j: j.release.bundle if j.release else None)


def attach_bundle(release: Release, files: dict[str, str] | None = None) -> Release:
    """Store a supabase/ bundle on ``release`` (one migration unless ``files`` says otherwise)."""
    files = files or {"supabase/migrations/20250101000000_notes.sql": MIGRATION}
    release.bundle = bundle_store(
        project=release.project,
        files=[BundleFile(path, text.encode()) for path, text in files.items()],
    )
    release.save(update_fields=["bundle"])
    return release


def add_log_lines(job: Job, count: int, *, text: str = "line {n}") -> None:
    """Append ``count`` stored lines after the job's existing ones."""
    from django.utils import timezone

    now = timezone.now()
    first = job.log_count + 1
    JobLogLine.objects.bulk_create(
        JobLogLine(job=job, seq=n, at=now, text=text.format(n=n))
        for n in range(first, first + count)
    )
    job.log_count += count
    job.save(update_fields=["log_count"])
