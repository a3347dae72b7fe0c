"""A webhook URL is often the secret itself (Slack's are): the change log keeps its host,
never its path or query, wherever a URL is set, changed or removed."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from release_portal.audit.models import AuditEvent
from release_portal.webhooks.models import Webhook
from tests.migrations_ops.projects.test_settings_page import settings_url, valid

pytestmark = pytest.mark.django_db

SLACK = "https://hooks.slack.com/services/T0AAAA/B0BBBB/PathSecret1?token=QuerySecret1"
OTHER = "https://hooks.example.org/release-portal/PathSecret2?sig=QuerySecret2"
SAME_HOST = "https://hooks.example.org/release-portal/PathSecret3"
MAINTENANCE = "https://ops.example.net/maintenance/PathSecret4?key=QuerySecret4"
MAINTENANCE_2 = "https://flags.example.net/PathSecret5"
SECRETS = [f"{kind}Secret{n}" for n in range(1, 6) for kind in ("Path", "Query")]


def hook(url: str, **fields: str) -> dict[str, object]:
    return {"name": "ops", "url": url, "events": ["job.failed"], "format": "json",
            "enabled": "on", **fields}  # fmt: skip


def everything_logged() -> str:
    return json.dumps(list(AuditEvent.objects.values_list("data", flat=True)), default=str)


def test_webhook_create_edit_and_delete_log_the_host_only(client, project, platform_lead):
    client.force_login(platform_lead)
    assert client.post(reverse("webhooks", args=[project.slug]), hook(SLACK)).status_code == 201
    webhook = Webhook.objects.get()
    edit = reverse("webhook_edit", args=[project.slug, webhook.pk])
    assert client.post(edit, hook(OTHER)).status_code == 302
    assert client.post(edit, hook(SAME_HOST)).status_code == 302
    client.post(reverse("webhook_delete", args=[project.slug, webhook.pk]))
    assert not Webhook.objects.exists()

    logged = everything_logged()
    for secret in SECRETS:
        assert secret not in logged
    assert "/services/" not in logged and "release-portal/" not in logged
    assert AuditEvent.objects.get(action="webhook.create").data["url_host"] == "hooks.slack.com"
    first, second = AuditEvent.objects.filter(action="webhook.update").order_by("seq")
    assert first.data["url_host"] == {"from": "hooks.slack.com", "to": "hooks.example.org"}
    # Only the path changed: the event still says the URL changed, on the same host.
    assert second.data["url_host"] == {"from": "hooks.example.org", "to": "hooks.example.org"}
    assert AuditEvent.objects.get(action="webhook.delete").data["url_host"] == ("hooks.example.org")


def test_the_maintenance_webhook_setting_logs_the_host_only(client, project, platform_lead):
    client.force_login(platform_lead)
    for url in (MAINTENANCE, MAINTENANCE_2, ""):
        response = client.post(settings_url(project), valid(maintenance_webhook_url=url))
        assert response.status_code == 302
    project.refresh_from_db()
    assert project.maintenance_webhook_url == ""

    logged = everything_logged()
    for secret in SECRETS:
        assert secret not in logged
    changes = [
        e.data["changed"]["maintenance_webhook_url"]
        for e in AuditEvent.objects.filter(action="project.settings_update").order_by("seq")
    ]
    assert changes == [
        {"before": "", "after": "ops.example.net"},
        {"before": "ops.example.net", "after": "flags.example.net"},
        {"before": "flags.example.net", "after": ""},
    ]
