"""Releases with a runbook checklist, evidence, sign-offs and jobs, for report tests."""

from __future__ import annotations

import hashlib

import factory
from django.utils import timezone

from checklists.models import (
    ChecklistItem,
    Evidence,
    MigrationFile,
    Release,
    RunbookStep,
    RunbookVersion,
    SignOff,
)
from migrations_ops.models import Job, JobLogLine
from tests.factories import ProjectFactory, UserFactory


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class RunbookVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RunbookVersion

    project = factory.SubFactory(ProjectFactory)
    number = factory.Sequence(lambda n: n + 1)
    title = "Database Migration Runbook"
    source = "# Database Migration Runbook\n"
    source_sha256 = factory.LazyAttribute(lambda v: sha256(v.source))
    status = RunbookVersion.Status.PUBLISHED


class RunbookStepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RunbookStep

    version = factory.SubFactory(RunbookVersionFactory)
    position = factory.Sequence(lambda n: n + 1)
    section = "3. Pre-flight Checks (Run Before Each Release)"
    key = factory.Sequence(lambda n: f"step-{n}")
    text = factory.Sequence(lambda n: f"Step number {n}")
    owner = "release_engineer"


class ReleaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Release

    project = factory.SubFactory(ProjectFactory)
    title = factory.Sequence(lambda n: f"Release {n}")
    owner = factory.SubFactory(UserFactory)
    commit_sha = factory.Sequence(lambda n: sha256(f"commit {n}")[:40])
    runbook_version = factory.SubFactory(
        RunbookVersionFactory, project=factory.SelfAttribute("..project")
    )
    digest = factory.Sequence(lambda n: sha256(f"digest {n}"))
    content_digest = factory.Sequence(lambda n: sha256(f"content {n}"))


class MigrationFileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MigrationFile

    release = factory.SubFactory(ReleaseFactory)
    version = factory.Sequence(lambda n: f"2025011912{n:04d}")
    name = "add_table"
    filename = factory.LazyAttribute(lambda f: f"{f.version}_{f.name}.sql")
    sql = "create table t (id int);"
    sha256 = factory.LazyAttribute(lambda f: sha256(f.sql))
    size = factory.LazyAttribute(lambda f: len(f.sql))


class JobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Job

    release = factory.SubFactory(ReleaseFactory)
    project = factory.SelfAttribute("release.project")
    kind = Job.Kind.ORDER
    state = Job.State.SUCCEEDED
    ok = True
    summary = "14 files in order"
    result = factory.LazyFunction(lambda: {"files": 14, "pending": ["20250119120000"]})


class JobLogLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = JobLogLine

    job = factory.SubFactory(JobFactory)
    seq = factory.Sequence(lambda n: n + 1)
    at = factory.LazyFunction(timezone.now)
    text = factory.Sequence(lambda n: f"log line {n}")


class EvidenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Evidence

    kind = Evidence.Kind.CI_RUN
    status = Evidence.Status.PASSED
    summary = "Supabase Migrations & Edge Functions #812"
    url = "https://github.com/example/app/actions/runs/812"


class SignOffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SignOff

    kind = SignOff.Kind.RELEASE_OWNER
    digest = factory.LazyAttribute(lambda s: s.release.digest)
    signed_at = factory.LazyFunction(timezone.now)


# The runbook's §3 and §6 as steps: (section, text, owner, is_signoff).
STEPS = [
    ("3. Pre-flight Checks (Run Before Each Release)",
     "Confirm `supabase/migrations` order is chronological and filenames use UTC timestamps.",
     "release_engineer", False),
    ("3. Pre-flight Checks (Run Before Each Release)",
     "Ensure RLS fixtures (`supabase/tests/fixtures/*`) match expected policies.",
     "qa_lead", False),
    ("6. Runbook Checklist (Per Release)",
     "Staging migrations applied successfully (CI job green).", "release_engineer", False),
    ("6. Runbook Checklist (Per Release)",
     "Manual Supabase backup captured and logged.", "sre", False),
    ("6. Runbook Checklist (Per Release)",
     "Release owner sign-off: `@<name>`", "release_owner", True),
]  # fmt: skip


def release_with_checklist(*, project, owner, **kwargs):
    """A release pinning a published runbook version with the steps above, one item each."""
    version = RunbookVersionFactory(project=project)
    for position, (section, text, step_owner, is_signoff) in enumerate(STEPS, start=1):
        RunbookStepFactory(
            version=version, position=position, section=section, key=f"step-{position}",
            text=text, owner=step_owner, is_signoff=is_signoff,
        )  # fmt: skip
    release = ReleaseFactory(project=project, owner=owner, runbook_version=version, **kwargs)
    for step in version.steps.order_by("position"):
        ChecklistItem.objects.create(release=release, step=step)
    return release


def items_by_position(release):
    return list(release.items.select_related("step").order_by("step__position"))
