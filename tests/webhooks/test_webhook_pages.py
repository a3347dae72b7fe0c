"""The project's webhooks page: platform leads manage, others 403, other projects 404."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from release_portal.audit.models import AuditEvent
from release_portal.webhooks.models import Webhook, WebhookDelivery, WebhookMessage
from tests.html import inline_code

pytestmark = pytest.mark.django_db

NOT_LEADS = ["release_engineer", "qa_lead", "sre", "auditor"]


def page(project):
    return reverse("webhooks", args=[project.slug])


def new_hook(**overrides):
    data = {
        "name": "ops-alerts",
        "url": "https://hooks.example.com/release-portal",
        "events": ["monitoring.alert", "job.failed"],
        "format": "json",
        "enabled": "on",
    }
    data.update(overrides)
    return data


def logged(message, attempt, status, *, ok, error=""):
    return WebhookDelivery.objects.create(
        message=message, webhook=message.webhook, event=message.event, attempt=attempt,
        at=timezone.now(), ok=ok, status_code=status, error=error, duration_ms=12,
        response_excerpt="<html>upstream down</html>" if status == 500 else "ok",
    )  # fmt: skip


def test_it_creates_a_webhook_and_shows_its_secret_once(client, project, platform_lead):
    client.force_login(platform_lead)
    response = client.post(page(project), new_hook())
    assert response.status_code == 201
    webhook = Webhook.objects.get()
    assert webhook.secret.startswith("rpwh_") and len(webhook.secret) > 40
    html = response.content.decode()
    assert webhook.secret in html
    assert "no-store" in response["Cache-Control"]
    assert webhook.events == ["job.failed", "monitoring.alert"]
    event = AuditEvent.objects.get(action="webhook.create")
    assert webhook.secret not in str(event.data)
    # Afterwards the page lists it, without the secret.
    again = client.get(page(project)).content.decode()
    assert "ops-alerts" in again and webhook.secret not in again


def test_it_refuses_a_url_pointing_at_the_metadata_service(client, project, platform_lead):
    client.force_login(platform_lead)
    response = client.post(page(project), new_hook(url="http://169.254.169.254/latest/"))
    assert response.status_code == 400
    assert "cloud metadata address" in response.content.decode()
    assert not Webhook.objects.exists()


def test_it_shows_the_delivery_log(client, project, platform_lead, django_assert_max_num_queries):
    webhook = Webhook.objects.create(
        project=project, name="ops", url="https://hooks.example.com/x", events=["job.failed"]
    )
    message = WebhookMessage.objects.create(
        webhook=webhook, event="job.failed", body="{}", next_attempt_at=timezone.now()
    )
    logged(message, 1, 500, ok=False)
    logged(message, 2, 200, ok=True)
    client.force_login(platform_lead)
    # session, user, memberships, project, webhooks, delivery log, savepoints
    with django_assert_max_num_queries(10):
        response = client.get(page(project))
    html = response.content.decode()
    assert response.status_code == 200
    assert "&lt;html&gt;upstream down&lt;/html&gt;" in html  # excerpt shown, escaped
    assert html.count("job.failed") >= 2
    assert "X-Release-Portal-Signature" in html  # the scheme is documented on the page
    assert inline_code(html) == []
    fragment = client.get(page(project) + "?fragment=log", HTTP_HX_REQUEST="true")
    assert fragment.content.decode().lstrip().startswith('<section class="card" id="delivery-log"')


def test_the_delivery_log_says_when_it_retries_and_when_it_gave_up(client, project, platform_lead):
    # The last failed attempt read "no answer" like every other: nothing said the portal
    # had stopped trying, and a retry's time had no zone beside the UTC times around it.
    webhook = Webhook.objects.create(
        project=project, name="ops", url="https://hooks.example.com/x", events=["job.failed"]
    )
    message = WebhookMessage.objects.create(
        webhook=webhook, event="job.failed", body="{}", next_attempt_at=timezone.now()
    )
    retried = logged(message, 4, None, ok=False, error="connection refused")
    retried.retry_at = timezone.now().replace(hour=17, minute=52, second=55)
    retried.save(update_fields=["retry_at"])
    logged(message, 5, None, ok=False, error="connection refused")
    client.force_login(platform_lead)
    html = client.get(page(project)).content.decode()
    assert "retry at 17:52:55 UTC" in html
    assert "given up after 5 attempts" in html
    assert "given up after 4" not in html


def test_it_rotates_the_secret_and_shows_the_new_one(client, project, platform_lead):
    webhook = Webhook.objects.create(
        project=project, name="ops", url="https://hooks.example.com/x", events=["job.failed"]
    )
    old = webhook.secret
    client.force_login(platform_lead)
    response = client.post(reverse("webhook_rotate", args=[project.slug, webhook.pk]))
    webhook.refresh_from_db()
    assert response.status_code == 200
    assert webhook.secret != old and webhook.secret in response.content.decode()
    assert AuditEvent.objects.filter(action="webhook.rotate_secret").count() == 1


def test_it_edits_disables_and_deletes(client, project, platform_lead):
    webhook = Webhook.objects.create(
        project=project, name="ops", url="https://hooks.example.com/x", events=["job.failed"]
    )
    client.force_login(platform_lead)
    edit = reverse("webhook_edit", args=[project.slug, webhook.pk])
    response = client.post(edit, new_hook(name="ops", format="slack", enabled=""))
    assert response.status_code == 302
    webhook.refresh_from_db()
    assert (webhook.format, webhook.enabled) == ("slack", False)
    assert AuditEvent.objects.get(action="webhook.update").data["enabled"] == {
        "from": True, "to": False}  # fmt: skip
    client.post(reverse("webhook_delete", args=[project.slug, webhook.pk]))
    assert not Webhook.objects.exists()


@pytest.mark.parametrize("role", NOT_LEADS)
def test_other_roles_are_refused(client, project, personas, role):
    webhook = Webhook.objects.create(
        project=project, name="ops", url="https://hooks.example.com/x", events=["job.failed"]
    )
    client.force_login(personas[role])
    assert client.get(page(project)).status_code == 403
    assert client.post(page(project), new_hook()).status_code == 403
    rotate = reverse("webhook_rotate", args=[project.slug, webhook.pk])
    assert client.post(rotate).status_code == 403
    assert Webhook.objects.count() == 1


def test_other_projects_are_not_found(client, project, other_project, outsider, platform_lead):
    webhook = Webhook.objects.create(
        project=project, name="ops", url="https://hooks.example.com/x", events=["job.failed"]
    )
    client.force_login(outsider)
    assert client.get(page(project)).status_code == 404
    # A lead of this project cannot reach it through another project's address either.
    client.force_login(platform_lead)
    other = reverse("webhook_edit", args=[other_project.slug, webhook.pk])
    assert client.get(other).status_code == 404


def test_a_test_message_is_queued(client, project, platform_lead, webhook_sent):
    webhook = Webhook.objects.create(
        project=project, name="ops", url="https://hooks.example.com/x", events=["job.failed"]
    )
    client.force_login(platform_lead)
    response = client.post(reverse("webhook_ping", args=[project.slug, webhook.pk]))
    assert response.status_code == 302
    message = WebhookMessage.objects.get()
    assert message.event == "webhook.ping" and message.webhook == webhook
