"""The gate opens only on proof (issue 13, cases 1 and 6): a failed check is not overridden
by a tick, a link or a comment (a waiver is the only way past: tests/checklists/waivers/);
auditors never own, tick, waive or sign; a release with no migration files is never
approved."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.db import transaction

from checklists.deployments.gate import gate_status
from checklists.models import ChecklistItem, Evidence
from checklists.services.errors import ChecklistError
from checklists.services.items import item_mark_not_applicable, item_tick
from checklists.services.migrations import release_upload_archive
from checklists.services.releases import OwnerNotMember, release_create
from tests.checklists.conftest import item
from tests.checklists.proof import PENDING, finished_job, waivers
from tests.factories import (
    DEMO_MIGRATIONS,
    current_digest,
    settle_checklist,
    sign_off,
    supabase_archive,
)

# --- case 1: a failed check is not overridden by a link --------------------------------


def test_it_refuses_a_tick_with_a_link_over_a_failed_check(release_with_files, release_engineer):
    release = release_with_files
    job = finished_job(release, "pending", "failed")
    target = item(release, PENDING)
    with pytest.raises(ChecklistError, match="failed") as refused:
        item_tick(item=target, user=release_engineer, link="https://example.invalid/trust-me")
    assert f"job #{job.pk}" in str(refused.value)
    assert "waiver" in str(refused.value)
    # Refused whole: the item stays open and the link is not kept.
    assert item(release, PENDING).state == "open"
    assert not Evidence.objects.filter(item=target, kind="link").exists()


def test_the_gate_lists_a_failed_check_by_kind_and_job_even_when_ticked(
    release_with_files, platform_lead, release_engineer
):
    release = release_with_files
    job = finished_job(release, "pending", "failed")
    # Ticked before the check failed (or by hand in the database): the gate still refuses.
    ChecklistItem.objects.filter(pk=item(release, PENDING).pk).update(state="done")
    release.refresh_from_db()
    gate = gate_status(release)
    assert not gate.open
    failed = {c["step"]: c for c in gate.failed_checks}
    assert failed[PENDING]["status"] == "failed"
    assert failed[PENDING]["failures"][0]["kind"] == "job:pending"
    assert failed[PENDING]["failures"][0]["job"] == job.pk
    assert any(f"job:pending job #{job.pk}" in r for r in gate.reasons)


def test_a_later_passing_run_for_the_same_content_replaces_the_failure(
    release_with_files, release_engineer
):
    release = release_with_files
    finished_job(release, "pending", "failed")
    finished_job(release, "pending", "succeeded")
    assert item_tick(item=item(release, PENDING), user=release_engineer).state == "done"


def test_a_pass_for_other_content_is_no_proof(release_with_files, release_engineer):
    release = release_with_files
    finished_job(release, "pending", "succeeded", content_digest="f" * 64)
    with pytest.raises(ChecklistError, match="needs proof"):
        item_tick(item=item(release, PENDING), user=release_engineer)


def test_the_owner_cannot_sign_over_a_failed_check(release_with_files, platform_lead):
    w = waivers()
    release = release_with_files
    settle_checklist(release, platform_lead)
    finished_job(release, "pending", "failed")
    # The waiver was for "not applicable"; revoke it so the failed check shows.
    waiver = w.Waiver.objects.get(item__step__key=PENDING)
    w.revoke(waiver=waiver, user=platform_lead, reason="the check ran after all")
    ChecklistItem.objects.filter(pk=waiver.item_id).update(state="done")
    release.refresh_from_db()
    with pytest.raises(ChecklistError, match="did not pass"):
        sign_off(release, platform_lead)
    assert not gate_status(release).open


# --- case 6: who may own and sign; a release of nothing --------------------------------


def test_an_auditor_cannot_own_a_release(project, runbook, auditor, release_engineer):
    with pytest.raises(OwnerNotMember, match="platform lead or release engineer"):
        release_create(
            project=project, title="Audited", owner=auditor, commit_sha="b" * 40,
            created_by=release_engineer,
        )  # fmt: skip


@pytest.mark.parametrize("role", ["qa_lead", "sre"])
def test_only_leads_and_release_engineers_own(project, runbook, personas, role):
    with pytest.raises(OwnerNotMember):
        release_create(
            project=project, title="x", owner=personas[role], commit_sha="c" * 40,
            created_by=personas["release_engineer"],
        )  # fmt: skip


def test_an_auditor_never_ticks_waives_or_approves(release_with_files, auditor, release_engineer):
    w = waivers()
    release = release_with_files
    target = item(release, PENDING)
    with pytest.raises(PermissionDenied):
        item_tick(item=target, user=auditor)
    with pytest.raises(PermissionDenied):
        w.ask(
            item=target, user=auditor, reason="Auditors change nothing at all",
            seen_digest=current_digest(release),
        )  # fmt: skip
    waiver = w.ask(
        item=target, user=release_engineer, reason="Dashboard shows a known stuck row",
        seen_digest=current_digest(release),
    )  # fmt: skip
    with pytest.raises(PermissionDenied):
        w.approve(waiver=waiver, user=auditor, seen_digest=current_digest(release))
    with pytest.raises(PermissionDenied):
        w.revoke(waiver=waiver, user=auditor, reason="no")


def test_an_owner_who_became_an_auditor_no_longer_signs(release_with_files, platform_lead):
    from release_portal.accounts.models import Membership
    from release_portal.accounts.roles import forget_roles

    release = release_with_files
    settle_checklist(release, platform_lead)
    Membership.objects.filter(user=platform_lead).update(role="auditor")
    forget_roles(platform_lead)  # as a new request would see them
    with pytest.raises(PermissionDenied):
        sign_off(release, platform_lead)


def test_one_person_cannot_mark_an_evidence_required_item_not_applicable(
    release_with_files, platform_lead
):
    with pytest.raises(ChecklistError, match="is a waiver"):
        item_mark_not_applicable(
            item=item(release_with_files, PENDING), user=platform_lead, reason="not needed"
        )
    assert item(release_with_files, PENDING).state == "open"


def test_a_release_with_no_migration_files_is_never_approved(release, platform_lead):
    for each in release.items.select_related("step").filter(step__is_signoff=False):
        if not each.step.requires_evidence:
            item_mark_not_applicable(item=each, user=platform_lead, reason="nothing to do")
    # Even with every evidence-required item forced settled, there is nothing to approve.
    with transaction.atomic():
        release.items.filter(step__requires_evidence=True).update(state="not_applicable")
    release.refresh_from_db()
    with pytest.raises(ChecklistError, match="no migration files"):
        sign_off(release, platform_lead)
    gate = gate_status(release)
    assert not gate.open and not gate.has_migrations
    assert any("no migration files" in r for r in gate.reasons)


def test_the_uploader_may_not_give_the_final_signoff_by_default(
    project, runbook, platform_lead, release_engineer
):
    assert project.uploader_may_not_sign is True
    assert project.break_glass_needs_second_lead is True
    release = release_create(
        project=project, title="Self-approved", owner=platform_lead, commit_sha="d" * 40,
        created_by=platform_lead,
    )  # fmt: skip
    release_upload_archive(
        release=release, data=supabase_archive(DEMO_MIGRATIONS), filename="s.zip",
        actor=platform_lead,
    )  # fmt: skip
    release.refresh_from_db()
    settle_checklist(release, platform_lead)
    with pytest.raises(ChecklistError, match="You uploaded these migrations"):
        sign_off(release, platform_lead)


def test_the_release_form_offers_no_auditor_as_owner(client, project, runbook, personas):
    from django.urls import reverse

    client.force_login(personas["release_engineer"])
    page = client.get(reverse("release_new")).content.decode()
    assert ">lead<" in page and ">releng<" in page
    assert ">auditor<" not in page and ">qa<" not in page
    response = client.post(
        reverse("release_new"),
        {"project": project.pk, "title": "x", "owner": personas["auditor"].pk,
         "commit_sha": "e" * 40},
    )  # fmt: skip
    assert response.status_code == 400
    assert not project.releases.exists()
