"""Freeze windows: platform leads set and lift them; audited."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from checklists.models import FreezeWindow
from release_portal.audit.models import AuditEvent


def page(project):
    return reverse("freeze_windows", kwargs={"slug": project.slug})


def form(hours_from=0, hours_to=4, reason="Launch week"):
    now = timezone.now()
    fmt = "%Y-%m-%dT%H:%M"
    return {
        "starts_at": (now + timedelta(hours=hours_from)).strftime(fmt),
        "ends_at": (now + timedelta(hours=hours_to)).strftime(fmt),
        "reason": reason,
    }


def test_it_sets_a_freeze_window_and_records_it(client, platform_lead, project):
    client.force_login(platform_lead)
    assert client.post(page(project), form()).status_code == 302
    window = FreezeWindow.objects.get()
    assert window.reason == "Launch week" and window.created_by == platform_lead
    event = AuditEvent.objects.get(action="freeze.create")
    assert event.project_id == project.pk and event.data["reason"] == "Launch week"
    assert "Launch week" in client.get(page(project)).content.decode()


def test_it_refuses_a_window_that_ends_first_or_is_over(client, platform_lead, project):
    client.force_login(platform_lead)
    assert client.post(page(project), form(4, 1)).status_code == 400
    assert client.post(page(project), form(-5, -1)).status_code == 400
    assert not FreezeWindow.objects.exists()


def test_it_lifts_a_window(client, platform_lead, project):
    client.force_login(platform_lead)
    client.post(page(project), form())
    window = FreezeWindow.objects.get()
    delete = reverse("freeze_window_delete", kwargs={"slug": project.slug, "pk": window.pk})
    assert client.post(delete).status_code == 302
    assert not FreezeWindow.objects.exists()
    assert AuditEvent.objects.filter(action="freeze.delete").count() == 1


@pytest.mark.parametrize("role", ["release_engineer", "qa_lead", "sre", "auditor"])
def test_it_refuses_other_roles(client, personas, project, role):
    client.force_login(personas[role])
    assert client.get(page(project)).status_code == 403
    assert client.post(page(project), form()).status_code == 403
    assert not FreezeWindow.objects.exists()


def test_it_hides_the_page_from_other_projects(client, outsider, project):
    client.force_login(outsider)
    assert client.get(page(project)).status_code == 404


def test_a_freeze_in_force_reads_as_a_time_on_the_release_page_and_in_the_gate(
    client, platform_lead, project, release_with_files
):
    """What the lead saw: "freeze window until 2026-12-06T23:00:00+00:00" in the gate card,
    and CI the same in the gate's error: the reasons say the time as people read it."""
    import re

    from release_portal.api.tokens import token_create

    ends = (timezone.now() + timedelta(hours=3)).replace(second=0, microsecond=0)
    FreezeWindow.objects.create(
        project=project, starts_at=timezone.now() - timedelta(hours=1), ends_at=ends,
        reason="Launch week", created_by=platform_lead,
    )  # fmt: skip
    words = f"freeze window until {ends:%Y-%m-%d %H:%M} UTC: Launch week"
    client.force_login(platform_lead)
    html = client.get(reverse("release_detail", args=[release_with_files.pk])).content.decode()
    assert "F" + words[1:] in html
    token = token_create(project=project, name="ci", scopes=["read"], user=platform_lead)
    gate = client.get(
        f"/api/releases/{release_with_files.pk}/gate",
        headers={"Authorization": f"Bearer {token.value}"},
    )
    assert gate.status_code == 409
    body = gate.json()
    assert words in body["error"] and words in body["reasons"]
    iso = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")
    assert not iso.search(body["error"]) and not iso.search(" ".join(body["reasons"]))
    assert body["freeze"]["ends_at"] == ends.isoformat()  # the machine field stays ISO
