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
