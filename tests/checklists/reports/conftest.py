"""A release part-way through its checklist: ticks, n/a, stale, evidence, sign-offs, jobs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.files.base import ContentFile
from django.db import transaction

from checklists.models import ChecklistItem, Evidence, SignOff
from migrations_ops.models import Job
from release_portal.audit.services import audit_record
from tests.checklists.reports.factories import (
    EvidenceFactory,
    JobFactory,
    JobLogLineFactory,
    MigrationFileFactory,
    SignOffFactory,
    items_by_position,
    release_with_checklist,
)

T1 = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)
T2 = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def release(project, release_engineer, qa_lead, sre, platform_lead):
    """Owned by the release engineer. Items: 1 done with a job, 2 stale, 3 done with a CI
    run and an uploaded file, 4 n/a, 5 (the owner's sign-off) open."""
    release = release_with_checklist(
        project=project, owner=release_engineer, title="Ledger: add savings groups"
    )
    done, stale, staging, backup, _signoff = items_by_position(release)
    job = JobFactory(release=release, kind=Job.Kind.ORDER, summary="14 files in UTC order")
    for n in range(3):
        JobLogLineFactory(job=job, seq=n + 1, at=T1, text=f"checked file {n + 1}")
    ChecklistItem.objects.filter(pk=done.pk).update(
        state="done", done_by=release_engineer, done_at=T1, comment="Order checked twice"
    )
    EvidenceFactory(item=done, kind=Evidence.Kind.JOB, job=job, url="", summary=job.summary,
                    digest=release.content_digest, created_by_name="releng")  # fmt: skip
    ChecklistItem.objects.filter(pk=stale.pk).update(state="stale", done_by=qa_lead, done_at=T1)
    EvidenceFactory(item=stale, kind=Evidence.Kind.LINK, status="info", digest="0" * 64,
                    url="https://example.com/fixtures", summary="fixture review")  # fmt: skip
    ChecklistItem.objects.filter(pk=staging.pk).update(state="done", done_by=release_engineer,
                                                       done_at=T2)  # fmt: skip
    EvidenceFactory(item=staging, digest=release.content_digest, created_by_name="ci")
    upload = EvidenceFactory(item=staging, kind=Evidence.Kind.FILE, status="info", url="",
                             summary="smoke test notes", file_name="smoke notes.txt",
                             file_sha256="ab" * 32)  # fmt: skip
    upload.file.save("smoke.txt", ContentFile(b"all smoke tests passed\n"))
    ChecklistItem.objects.filter(pk=backup.pk).update(
        state="not_applicable", done_by=sre, done_at=T2, comment="No data changes in this release"
    )
    MigrationFileFactory(release=release, version="20250119120000", name="savings_groups")
    MigrationFileFactory(release=release, version="20250120080000", name="rls_policies",
                         down_filename="20250120080000_rls_policies.down.sql")  # fmt: skip
    SignOffFactory(release=release, user=release_engineer, kind=SignOff.Kind.RELEASE_OWNER,
                   signed_at=T2)  # fmt: skip
    SignOffFactory(release=release, user=qa_lead, kind=SignOff.Kind.QA_LEAD, signed_at=T1,
                   digest="1" * 64, stale_at=T2,
                   stale_reason="migration files changed")  # fmt: skip
    with transaction.atomic():
        audit_record(actor=platform_lead, action="release.create", obj=release)
        audit_record(actor=release_engineer, action="item.tick", obj=done,
                     data={"state": {"from": "open", "to": "done"}})  # fmt: skip
    release.refresh_from_db()
    return release
