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
