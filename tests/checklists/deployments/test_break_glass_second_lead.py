"""Break-glass needs a second platform lead (the project setting, on by default): the
override opens the gate only once another lead confirms it, for the digest on the page."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from checklists.deployments.gate import gate_status
from checklists.deployments.services import gate_break_glass, gate_override_confirm
from checklists.models import GateOverride
from release_portal.audit.models import AuditEvent
from tests.factories import PASSWORD, current_digest, second_lead

REASON = "Login outage: the hotfix migration must ship now"


def test_one_leads_break_glass_waits_for_a_second_lead(
    client, release_with_files, platform_lead, project
):
    release = release_with_files
    override = gate_break_glass(
        release=release, user=platform_lead, reason=REASON, password=PASSWORD,
        seen_digest=current_digest(release),
    )  # fmt: skip
    assert override.needs_confirmation
    gate = gate_status(release)
    assert not gate.open and gate.override is None
    assert gate.override_unconfirmed["by"] == "lead"
    with pytest.raises(PermissionDenied, match="second platform lead"):
        gate_override_confirm(
            override=override, user=platform_lead, seen_digest=current_digest(release)
        )
    other = second_lead(project)
    client.force_login(other)
    page = client.get(reverse("release_gate", kwargs={"pk": release.pk})).content.decode()
    assert "Confirm break-glass" in page
    confirm = reverse(
        "gate_override_confirm", kwargs={"pk": release.pk, "override_pk": override.pk}
    )
    assert client.post(confirm, {"seen_digest": "0" * 64}).status_code == 302
    assert GateOverride.objects.get().confirmed_at is None  # another digest: refused
    assert client.post(confirm, {"seen_digest": current_digest(release)}).status_code == 302
    override.refresh_from_db()
    assert override.confirmed_by == other
    gate = gate_status(release)
    assert gate.open and gate.override["confirmed_by"] == "lead-two"
    assert AuditEvent.objects.filter(action="gate.break_glass_confirmed").count() == 1


def test_without_the_setting_one_lead_opens_it(release_with_files, platform_lead, project):
    project.break_glass_needs_second_lead = False
    project.save(update_fields=["break_glass_needs_second_lead"])
    gate_break_glass(
        release=release_with_files, user=platform_lead, reason=REASON, password=PASSWORD,
        seen_digest=current_digest(release_with_files),
    )  # fmt: skip
    assert gate_status(release_with_files).open


def test_a_lone_lead_is_told_nobody_can_confirm_and_what_to_do(
    client, release_with_files, platform_lead, project
):
    # The demo's project has one platform lead: the break-glass waited for a confirmation
    # nobody could give, and the page still offered "Break glass", which then said "the
    # glass is already broken".
    gate_break_glass(
        release=release_with_files, user=platform_lead, reason=REASON, password=PASSWORD,
        seen_digest=current_digest(release_with_files),
    )  # fmt: skip
    client.force_login(platform_lead)
    page_url = reverse("release_gate", kwargs={"pk": release_with_files.pk})
    page = client.get(page_url).content.decode()
    assert 'id="lone-lead"' in page
    assert f"{project.name} has no other platform lead to confirm it." in page
    assert reverse("project_members", kwargs={"slug": project.slug}) in page
    assert reverse("project_settings", kwargs={"slug": project.slug}) in page
    assert reverse("break_glass", kwargs={"pk": release_with_files.pk}) not in page
    # The follow-up does not say it "opens the gate until …" while the gate is shut.
    assert "(opens the gate once confirmed, until 20" in page
    assert "(opens the gate until" not in page
    # With a second lead the page says what it did: that lead confirms it.
    second_lead(project)
    page = client.get(page_url).content.decode()
    assert 'id="lone-lead"' not in page
    assert "A second platform lead confirms it before it opens the gate." in page
