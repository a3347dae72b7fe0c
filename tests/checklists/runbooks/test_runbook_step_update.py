"""runbook_step_update: drafts only, valid owners and evidence kinds, audited."""

from __future__ import annotations

import pytest

from checklists.runbooks.services import RunbookError, runbook_step_update
from release_portal.audit.models import AuditEvent


def step(version, position):
    return version.steps.get(position=position)


def test_it_changes_a_draft_steps_owner_and_evidence(draft, platform_lead):
    smoke = step(draft, 11)
    runbook_step_update(
        step=smoke,
        owner="sre",
        evidence_kinds=["link", "job:restore_check"],
        requires_evidence=True,
        user=platform_lead,
    )
    smoke.refresh_from_db()
    assert (smoke.owner, smoke.evidence_kinds, smoke.requires_evidence) == (
        "sre",
        ["link", "job:restore_check"],
        True,
    )
    event = AuditEvent.objects.get(action="runbook.step_update")
    assert event.data["before"]["owner"] == "qa_lead"
    assert event.data["after"]["evidence_kinds"] == ["link", "job:restore_check"]


def test_it_refuses_to_change_a_published_version(published, platform_lead):
    smoke = step(published, 11)
    with pytest.raises(RunbookError, match="frozen"):
        runbook_step_update(
            step=smoke, owner="sre", evidence_kinds=[], requires_evidence=False, user=platform_lead
        )
    smoke.refresh_from_db()
    assert smoke.owner == "qa_lead"


@pytest.mark.parametrize(
    ("position", "owner", "kinds", "required", "message"),
    [
        (1, "auditor", [], False, "not a role"),
        (1, "sre", ["javascript:alert(1)"], False, "not an evidence kind"),
        (1, "sre", [], True, "at least one evidence kind"),
        (13, "platform_lead", [], False, "sign-off step"),
    ],
)
def test_it_refuses_invalid_values(draft, platform_lead, position, owner, kinds, required, message):
    with pytest.raises(RunbookError, match=message):
        runbook_step_update(
            step=step(draft, position),
            owner=owner,
            evidence_kinds=kinds,
            requires_evidence=required,
            user=platform_lead,
        )


def test_it_writes_nothing_when_nothing_changed(draft, platform_lead):
    first = step(draft, 1)
    runbook_step_update(
        step=first,
        owner=first.owner,
        evidence_kinds=list(first.evidence_kinds),
        requires_evidence=first.requires_evidence,
        user=platform_lead,
    )
    assert not AuditEvent.objects.filter(action="runbook.step_update").exists()
