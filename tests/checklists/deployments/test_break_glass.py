"""Break-glass from the gate page: password again, reason, loud audit, a follow-up."""

import pytest
from django.urls import reverse

from checklists.models import GateOverride
from release_portal import notify
from release_portal.audit.models import AuditEvent
from tests.factories import PASSWORD, current_digest


def gate_url(release):
    return reverse("release_gate", kwargs={"pk": release.pk})


def break_url(release):
    return reverse("break_glass", kwargs={"pk": release.pk})


REASON = "Login outage: the hotfix migration must ship now"


@pytest.fixture(autouse=True)
def _one_lead_breaks_the_glass(project):
    # These tests are about one lead's break-glass; the second lead's confirmation has its
    # own tests (test_break_glass_second_lead.py).
    project.break_glass_needs_second_lead = False
    project.save(update_fields=["break_glass_needs_second_lead"])


def test_it_opens_the_gate_loudly_with_a_follow_up(
    client, platform_lead, release_with_files, django_capture_on_commit_callbacks
):
    seen = []
    notify.register_sink(seen.append)
    try:
        client.force_login(platform_lead)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                break_url(release_with_files),
                {
                    "reason": REASON,
                    "password": PASSWORD,
                    "seen_digest": current_digest(release_with_files),
                },
            )
    finally:
        notify.unregister_sink(seen.append)
    assert response.status_code == 302
    override = GateOverride.objects.get()
    assert override.digest == release_with_files.digest and override.resolved_at is None
    assert len(override.bypassed["missing_items"]) == 12
    event = AuditEvent.objects.get(action="gate.break_glass")
    assert event.actor_name == "lead" and event.data["reason"] == REASON
    assert AuditEvent.objects.filter(action="notify.gate.break_glass").count() == 1
    assert [n.event for n in seen] == ["gate.break_glass"]
    page = client.get(gate_url(release_with_files)).content.decode()
    assert "Break-glass follow-ups" in page and "1 open" in page and REASON in page
    assert 'badge-ok">open' in page


def test_it_refuses_a_wrong_password_and_records_the_attempt(
    client, platform_lead, release_with_files
):
    client.force_login(platform_lead)
    response = client.post(
        break_url(release_with_files),
        {"reason": REASON, "password": "nope", "seen_digest": current_digest(release_with_files)},
    )
    assert response.status_code == 400
    assert "password is not right" in response.content.decode()
    assert not GateOverride.objects.exists()
    assert AuditEvent.objects.filter(action="gate.break_glass_refused").count() == 1


def test_it_wants_a_real_reason(client, platform_lead, release_with_files):
    client.force_login(platform_lead)
    response = client.post(
        break_url(release_with_files),
        {
            "reason": "because",
            "password": PASSWORD,
            "seen_digest": current_digest(release_with_files),
        },
    )
    assert response.status_code == 400
    assert not GateOverride.objects.exists()


@pytest.mark.parametrize("role", ["release_engineer", "qa_lead", "sre", "auditor"])
def test_it_lets_only_platform_leads_break_the_glass(client, personas, release_with_files, role):
    client.force_login(personas[role])
    assert client.get(gate_url(release_with_files)).status_code == 200
    assert "Break glass" not in client.get(gate_url(release_with_files)).content.decode()
    response = client.post(
        break_url(release_with_files),
        {"reason": REASON, "password": PASSWORD, "seen_digest": current_digest(release_with_files)},
    )
    assert response.status_code == 403
    assert not GateOverride.objects.exists()


def test_it_hides_the_gate_page_from_other_projects(client, outsider, release_with_files):
    client.force_login(outsider)
    assert client.get(gate_url(release_with_files)).status_code == 404
    assert (
        client.post(
            break_url(release_with_files),
            {
                "reason": REASON,
                "password": PASSWORD,
                "seen_digest": current_digest(release_with_files),
            },
        ).status_code
        == 404
    )


def test_it_refuses_to_break_an_open_gate(client, platform_lead, approved_release):
    client.force_login(platform_lead)
    response = client.post(
        break_url(approved_release),
        {"reason": REASON, "password": PASSWORD, "seen_digest": current_digest(approved_release)},
    )
    assert response.status_code == 400
    assert "already open" in response.content.decode()
    assert not GateOverride.objects.exists()


def test_it_refuses_to_break_the_glass_twice(client, platform_lead, release_with_files):
    client.force_login(platform_lead)
    client.post(
        break_url(release_with_files),
        {"reason": REASON, "password": PASSWORD, "seen_digest": current_digest(release_with_files)},
    )
    again = client.post(
        break_url(release_with_files),
        {"reason": REASON, "password": PASSWORD, "seen_digest": current_digest(release_with_files)},
    )
    assert "already broken" in again.content.decode()
    assert GateOverride.objects.count() == 1


def test_it_resolves_the_follow_up_with_a_note(
    client, platform_lead, release_engineer, release_with_files
):
    client.force_login(platform_lead)
    client.post(
        break_url(release_with_files),
        {"reason": REASON, "password": PASSWORD, "seen_digest": current_digest(release_with_files)},
    )
    override = GateOverride.objects.get()
    resolve = reverse(
        "gate_override_resolve", kwargs={"pk": release_with_files.pk, "override_pk": override.pk}
    )
    client.force_login(release_engineer)
    assert client.post(resolve, {"note": "checked"}).status_code == 403
    client.force_login(platform_lead)
    assert client.post(resolve, {"note": ""}).status_code == 302
    assert GateOverride.objects.get().resolved_at is None
    assert client.post(resolve, {"note": "Checklist completed after the hotfix"}).status_code == 302
    override.refresh_from_db()
    assert override.resolved_by == platform_lead
    assert override.resolution_note == "Checklist completed after the hotfix"
    assert AuditEvent.objects.filter(action="gate.break_glass_resolved").count() == 1
    assert "Break-glass follow-ups" not in client.get(gate_url(release_with_files)).content.decode()


def test_a_failing_sink_never_breaks_the_change(
    platform_lead, release_with_files, django_capture_on_commit_callbacks
):
    from checklists.deployments.services import gate_break_glass

    def broken(notification):
        raise RuntimeError("webhook down")

    notify.register_sink(broken)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            gate_break_glass(
                release=release_with_files,
                seen_digest=current_digest(release_with_files),
                user=platform_lead,
                reason=REASON,
                password=PASSWORD,
            )
    finally:
        notify.unregister_sink(broken)
    assert GateOverride.objects.count() == 1
