"""runbook_publish and runbook_discard; the selectors releases and the lead rely on."""

from __future__ import annotations

import pytest
from django.utils import timezone

from checklists.models import RunbookVersion
from checklists.runbooks.selectors import (
    latest_published_version,
    runbook_lint_evidence_summary,
)
from checklists.runbooks.services import (
    RunbookError,
    runbook_discard,
    runbook_import,
    runbook_publish,
)
from release_portal.audit.models import AuditEvent


def test_it_publishes_a_draft_and_appends_a_change_log_row(draft, platform_lead):
    platform_lead.first_name, platform_lead.last_name = "Aline", "Uwase"
    platform_lead.save()
    version = runbook_publish(
        version=draft, user=platform_lead, notes="  Imported   into the portal. "
    )
    version.refresh_from_db()
    assert version.status == "published"
    assert version.published_by == platform_lead
    assert version.history[0]["date"] == "2025-01-19"
    assert version.history[-1] == {
        "date": timezone.now().date().isoformat(),
        "by": "Aline Uwase",
        "notes": "Imported into the portal.",
    }
    event = AuditEvent.objects.get(action="runbook.publish")
    assert event.data["change_log_row"]["notes"] == "Imported into the portal."


def test_it_requires_notes(draft, platform_lead):
    with pytest.raises(RunbookError, match="notes"):
        runbook_publish(version=draft, user=platform_lead, notes="   ")
    draft.refresh_from_db()
    assert draft.status == "draft"


def test_it_refuses_to_publish_twice(published, platform_lead):
    with pytest.raises(RunbookError, match="already published"):
        runbook_publish(version=published, user=platform_lead, notes="again")
    assert len(RunbookVersion.objects.get(pk=published.pk).history) == 2


def test_it_refuses_to_publish_a_draft_older_than_the_published_version(
    project, platform_lead, runbook_v1_bytes
):
    older = runbook_import(project=project, source_bytes=runbook_v1_bytes, user=platform_lead)
    newer = runbook_import(project=project, source_bytes=runbook_v1_bytes, user=platform_lead)
    runbook_publish(version=newer, user=platform_lead, notes="v2")
    with pytest.raises(RunbookError, match="back in time"):
        runbook_publish(version=older, user=platform_lead, notes="v1")


def test_latest_published_version_is_what_releases_pin(project, platform_lead, runbook_v1_bytes):
    assert latest_published_version(project) is None
    v1 = runbook_import(project=project, source_bytes=runbook_v1_bytes, user=platform_lead)
    assert latest_published_version(project) is None
    runbook_publish(version=v1, user=platform_lead, notes="v1")
    runbook_import(project=project, source_bytes=runbook_v1_bytes, user=platform_lead)  # draft v2
    assert latest_published_version(project) == v1
    assert latest_published_version(project.pk) == v1


def test_it_discards_a_draft(draft, platform_lead):
    runbook_discard(version=draft, user=platform_lead)
    assert not RunbookVersion.objects.exists()
    event = AuditEvent.objects.get(action="runbook.discard")
    assert event.data["number"] == 1


def test_it_refuses_to_discard_a_published_version(published, platform_lead):
    with pytest.raises(RunbookError, match="cannot be discarded"):
        runbook_discard(version=published, user=platform_lead)
    assert RunbookVersion.objects.filter(pk=published.pk).exists()


def test_the_lint_summary_is_evidence_for_the_runbook_review_step(draft):
    evidence = runbook_lint_evidence_summary(draft)
    assert evidence["kind"] == "runbook_lint"
    assert evidence["status"] == "failed"
    assert evidence["summary"].startswith("Runbook v1 lint: 4 errors, 1 warning")
    assert evidence["data"]["cli_version"] == "supabase/cli@8c792b59"
    assert len(evidence["data"]["findings"]) == 5


def test_the_lint_summary_passes_a_clean_runbook(project, platform_lead):
    clean = runbook_import(
        project=project, source_bytes=b"# R\n\n- [ ] Run `supabase db push --dry-run`\n", user=None
    )
    evidence = runbook_lint_evidence_summary(clean)
    assert evidence["status"] == "passed"
    assert "no findings" in evidence["summary"]
