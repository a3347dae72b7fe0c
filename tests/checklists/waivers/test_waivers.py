"""Waivers (issue 13): the only way past a failed check; asked by one person, approved by a
second, bound to one content digest, withdrawn with a reason."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from checklists.deployments.gate import gate_status
from checklists.services.errors import AlreadyDone, ChecklistError
from checklists.services.migrations import release_upload_archive
from release_portal.audit.models import AuditEvent
from tests.checklists.conftest import item
from tests.checklists.proof import PENDING, finished_job, waivers
from tests.factories import (
    DEMO_MIGRATIONS,
    current_digest,
    second_lead,
    settle_checklist,
    sign_off,
    supabase_archive,
)


def test_a_waiver_asked_by_one_and_approved_by_a_second_lets_the_gate_past(
    release_with_files, platform_lead, release_engineer, project
):
    w = waivers()
    release = release_with_files
    job = finished_job(release, "pending", "failed")
    target = item(release, PENDING)
    waiver = w.ask(
        item=target, user=release_engineer, reason="Dashboard shows a known stuck row",
        seen_digest=current_digest(release),
    )  # fmt: skip
    assert waiver.check_result["failures"][0]["job"] == job.pk
    assert item(release, PENDING).state == "open"  # nothing counts before the approval
    with pytest.raises(PermissionDenied):
        w.approve(waiver=waiver, user=release_engineer, seen_digest=current_digest(release))
    w.approve(waiver=waiver, user=platform_lead, seen_digest=current_digest(release))
    assert item(release, PENDING).state == "done"
    release.refresh_from_db()
    gate = gate_status(release)
    assert PENDING not in {c["step"] for c in gate.failed_checks}
    shown = [x for x in gate.waivers if x["step"] == PENDING]
    assert shown and shown[0]["asked_by"] == "releng" and shown[0]["approved_by"] == "lead"
    assert shown[0]["reason"] == "Dashboard shows a known stuck row"
    actions = list(
        AuditEvent.objects.filter(action__startswith="waiver.").values_list("action", flat=True)
    )
    assert actions == ["waiver.ask", "waiver.approve"]
    # Settle the rest and sign: the gate opens with the waiver in its body.
    settle_checklist(release, platform_lead)
    sign_off(release, platform_lead)
    release.refresh_from_db()
    gate = gate_status(release)
    assert gate.open and PENDING in {x["step"] for x in gate.waivers}


def test_the_asker_never_approves_and_a_single_lead_asks_the_owner(
    release_with_files, platform_lead, release_engineer, project
):
    w = waivers()
    release = release_with_files
    # The release engineer owns this release; the project's single lead asks.
    release.owner = release_engineer
    release.save(update_fields=["owner"])
    target = item(release, PENDING)
    waiver = w.ask(
        item=target, user=platform_lead, reason="The dashboard is down; checked by SQL",
        seen_digest=current_digest(release),
    )  # fmt: skip
    with pytest.raises(PermissionDenied, match="second person"):
        w.approve(waiver=waiver, user=platform_lead, seen_digest=current_digest(release))
    w.approve(waiver=waiver, user=release_engineer, seen_digest=current_digest(release))
    assert w.Waiver.objects.get().approved_by == release_engineer


def test_with_two_leads_the_owner_who_is_no_lead_does_not_approve(
    release_with_files, platform_lead, release_engineer, project
):
    w = waivers()
    release = release_with_files
    second_lead(project)
    release.owner = release_engineer
    release.save(update_fields=["owner"])
    waiver = w.ask(
        item=item(release, PENDING), user=platform_lead,
        reason="The dashboard is down; checked by SQL", seen_digest=current_digest(release),
    )  # fmt: skip
    with pytest.raises(PermissionDenied, match="platform lead other than"):
        w.approve(waiver=waiver, user=release_engineer, seen_digest=current_digest(release))


def _approved_waiver(w, release, asker, approver):
    """A waiver of the pending check, asked by ``asker`` and approved by ``approver``."""
    waiver = w.ask(
        item=item(release, PENDING), user=asker,
        reason="Dashboard shows a known stuck row", seen_digest=current_digest(release),
    )  # fmt: skip
    w.approve(waiver=waiver, user=approver, seen_digest=current_digest(release))
    return waiver


def test_new_content_makes_a_waiver_stale_and_its_item_with_it(
    release_with_files, platform_lead, release_engineer, project
):
    w = waivers()
    release = release_with_files
    waiver = _approved_waiver(w, release, release_engineer, platform_lead)
    files = dict(DEMO_MIGRATIONS)
    files["migrations/20250102000000_members.sql"] += "create index on app.members (name);\n"
    release_upload_archive(
        release=release, data=supabase_archive(files), filename="v2.zip", actor=release_engineer
    )
    release.refresh_from_db()
    waiver.refresh_from_db()
    assert waiver.state == "stale"
    assert item(release, PENDING).state == "stale"
    gate = gate_status(release)
    assert PENDING in {c["step"] for c in gate.failed_checks}
    assert gate.waivers == []


def test_withdrawing_an_approved_waiver_reopens_the_item(
    release_with_files, platform_lead, release_engineer
):
    w = waivers()
    release = release_with_files
    waiver = _approved_waiver(w, release, release_engineer, platform_lead)
    with pytest.raises(ChecklistError, match="why"):
        w.revoke(waiver=waiver, user=release_engineer, reason=" ")
    w.revoke(waiver=waiver, user=release_engineer, reason="We will run the check after all")
    assert item(release, PENDING).state == "open"
    with pytest.raises(AlreadyDone):
        w.revoke(waiver=waiver, user=platform_lead, reason="again")


def test_a_passing_check_needs_no_waiver(release_with_files, release_engineer):
    w = waivers()
    release = release_with_files
    finished_job(release, "pending", "succeeded")
    with pytest.raises(ChecklistError, match="tick the item instead"):
        w.ask(
            item=item(release, PENDING), user=release_engineer,
            reason="Just in case it fails later", seen_digest=current_digest(release),
        )  # fmt: skip


RLS_DOCKER = "rls-docker-test-suite-passed"


def test_a_failure_the_waiver_never_saw_ends_it_and_closes_the_gate(
    release_with_files, platform_lead, release_engineer, qa_lead
):
    """Runbook §4: a failed RLS Docker suite blocks production. A waiver asked while the
    suite had not reported waives a missing result, not the failure that came after."""
    from checklists.services.ci_results import ci_run_report

    w = waivers()
    release = release_with_files
    waiver = w.ask(
        item=item(release, RLS_DOCKER), user=qa_lead, reason="CI runner down, checked by hand",
        seen_digest=current_digest(release),
    )  # fmt: skip
    assert waiver.check_result["status"] == "missing"
    w.approve(waiver=waiver, user=platform_lead, seen_digest=current_digest(release))
    settle_checklist(release, platform_lead)
    sign_off(release, platform_lead)
    release.refresh_from_db()
    assert gate_status(release).open

    ci_run_report(
        release=release, step="ci:rls_docker", status="failed", commit_sha=release.commit_sha,
        run_url="https://ci.example.com/runs/9", summary="3 policies leak rows",
        actor=release_engineer,
    )  # fmt: skip

    # The owner cannot sign again over it: the waiver ended and the item reopened.
    release.refresh_from_db()
    with pytest.raises(ChecklistError, match="not done"):
        sign_off(release, platform_lead)
    waiver.refresh_from_db()
    assert waiver.revoked_at is not None and "failed after" in waiver.revoke_reason
    gate = gate_status(release)
    assert not gate.open
    assert RLS_DOCKER in {c["step"] for c in gate.failed_checks}
    assert RLS_DOCKER not in {x["step"] for x in gate.waivers}
    assert item(release, RLS_DOCKER).state == "open"


def test_the_same_check_failing_again_keeps_the_waiver(
    release_with_files, platform_lead, release_engineer
):
    w = waivers()
    release = release_with_files
    finished_job(release, "pending", "failed")
    waiver = w.ask(
        item=item(release, PENDING), user=release_engineer,
        reason="Dashboard shows a known stuck row", seen_digest=current_digest(release),
    )  # fmt: skip
    w.approve(waiver=waiver, user=platform_lead, seen_digest=current_digest(release))
    finished_job(release, "pending", "failed")  # run again: the same known failure
    waiver.refresh_from_db()
    assert waiver.revoked_at is None
    release.refresh_from_db()
    assert PENDING not in {c["step"] for c in gate_status(release).failed_checks}
