"""runbook_import: a draft version with its steps, lint and history; audited; atomic."""

from __future__ import annotations

import pytest

from checklists.models import RunbookStep, RunbookVersion
from checklists.runbooks.default import default_runbook_source
from checklists.runbooks.services import RunbookImportError, runbook_import
from release_portal.audit.models import AuditEvent


def test_it_stores_the_shared_runbook_as_draft_version_one(draft, project, platform_lead):
    assert (draft.project, draft.number, draft.status) == (project, 1, "draft")
    assert draft.title == "Database Migration Runbook"
    assert draft.imported_by == platform_lead
    assert len(draft.source_sha256) == 64
    steps = list(draft.steps.order_by("position"))
    assert len(steps) == 13
    assert [s.owner for s in steps].count("release_engineer") == 6
    signoff = steps[-1]
    assert (signoff.owner, signoff.is_signoff, signoff.evidence_kinds) == (
        "release_owner",
        True,
        [],
    )
    assert steps[7].evidence_kinds == ["ci:rls_docker", "job:rls"]
    assert steps[7].requires_evidence is True
    assert draft.history == [
        {
            "date": "2025-01-19",
            "by": "Initial draft",
            "notes": "First publication of migration runbook and release checklist.",
        }
    ]


def test_it_stores_the_lint_findings_and_cli_version(draft):
    codes = {f["code"] for f in draft.lint_findings}
    assert {
        "migration-up-no-dry-run",
        "migration-down-destroys-data",
        "db-dump-schema-only",
    } <= codes
    assert draft.lint_cli_version == "supabase/cli@8c792b59"


def test_it_numbers_versions_per_project(project, other_project, platform_lead, runbook_v1_bytes):
    first = runbook_import(project=project, source_bytes=runbook_v1_bytes, user=platform_lead)
    second = runbook_import(project=project, source_bytes=runbook_v1_bytes, user=platform_lead)
    elsewhere = runbook_import(project=other_project, source_bytes=runbook_v1_bytes, user=None)
    assert (first.number, second.number, elsewhere.number) == (1, 2, 1)


def test_it_records_an_audit_event(draft, project):
    event = AuditEvent.objects.get(action="runbook.import")
    assert event.actor_name == "lead"
    assert event.project_id == project.pk
    assert event.object_id == str(draft.pk)
    assert event.data["steps"] == 13
    assert event.data["lint"]["error"] >= 3


@pytest.mark.parametrize(
    "source",
    [b"", b"# T\n\nno steps\n", b"# T\n\n- [ ] \xff\n", b"# T\n\n- [ ] a\n- [ ] a\n"],
)
def test_it_stores_nothing_for_bad_input(project, platform_lead, source):
    with pytest.raises(RunbookImportError):
        runbook_import(project=project, source_bytes=source, user=platform_lead)
    assert not RunbookVersion.objects.exists()
    assert not RunbookStep.objects.exists()
    assert not AuditEvent.objects.filter(action="runbook.import").exists()


def test_it_ships_the_shared_runbook_as_the_default(runbook_v1_bytes):
    assert default_runbook_source() == runbook_v1_bytes
