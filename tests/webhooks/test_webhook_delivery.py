"""Webhook delivery to a real HTTP receiver: signatures, retries, Slack bodies, SSRF care."""

from __future__ import annotations

import json
import socket

import pytest
from django.test import TestCase
from django.utils import timezone

from release_portal.webhooks import delivery, signing
from release_portal.webhooks.models import Webhook, WebhookDelivery, WebhookMessage
from release_portal.webhooks.sinks import queue_event

pytestmark = pytest.mark.django_db


def hook(project, url, **fields):
    return Webhook.objects.create(
        project=project, name=fields.pop("name", "ops"), url=url,
        events=fields.pop("events", ["monitoring.alert", "job.failed"]), **fields,
    )  # fmt: skip


def queue(project, event="monitoring.alert", **data):
    with TestCase.captureOnCommitCallbacks(execute=True):  # messages go to Celery on commit
        return queue_event(
            event=event, project_id=project.pk, project=str(project), release_id=7,
            release="Members table (aaaaaaaa)",
            data={"summary": "Lock requests waiting on production is 3 (> 0)", **data},
        )  # fmt: skip


def make_due(message):
    # What the retry's countdown does in real life: time passes.
    WebhookMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())


def test_it_signs_requests_a_real_receiver_can_verify(project, receiver, webhook_sent):
    webhook = hook(project, receiver.url)
    (message,) = queue(project)
    assert webhook_sent == [(message.pk, None)]

    assert delivery.webhook_attempt(message_id=message.pk) is None
    (request,) = receiver.requests
    headers = {k.lower(): v for k, v in request.headers.items()}
    timestamp = headers["x-release-portal-timestamp"]
    signature = headers["x-release-portal-signature"]
    assert signature.startswith("sha256=")
    assert signing.verify(webhook.secret, body=request.body, timestamp=timestamp, header=signature)
    # Tampering with the body, the timestamp or the key breaks it; so does age.
    assert not signing.verify(
        webhook.secret, body=request.body + b" ", timestamp=timestamp, header=signature
    )
    assert not signing.verify(
        webhook.secret, body=request.body, timestamp=str(int(timestamp) + 1), header=signature
    )
    assert not signing.verify(
        "rpwh_other", body=request.body, timestamp=timestamp, header=signature
    )
    assert not signing.verify(
        webhook.secret, body=request.body, timestamp=timestamp, header=signature,
        now=int(timestamp) + 301,
    )  # fmt: skip
    assert headers["x-release-portal-event"] == "monitoring.alert"
    assert headers["x-release-portal-delivery"] == str(message.uid)
    body = json.loads(request.body)
    assert body["event"] == "monitoring.alert"
    assert body["release"]["id"] == 7 and body["project"]["name"] == project.name
    assert body["summary"] == "Lock requests waiting on production is 3 (> 0)"
    attempt = WebhookDelivery.objects.get()
    assert (attempt.ok, attempt.status_code, attempt.attempt) == (True, 200, 1)
    assert '"received": true' in attempt.response_excerpt
    message.refresh_from_db()
    assert message.state == "delivered"


def test_it_retries_after_a_500_and_then_succeeds(project, receiver, webhook_sent):
    receiver.statuses = [500, 200]
    hook(project, receiver.url)
    (message,) = queue(project)
    webhook_sent.clear()

    delivery.webhook_deliver_and_schedule(message_id=message.pk)
    assert webhook_sent == [(message.pk, 10)]  # the first retry waits 10 s
    message.refresh_from_db()
    assert (message.state, message.attempts) == ("pending", 1)
    # Not due yet: a duplicate Celery message does nothing.
    assert delivery.webhook_attempt(message_id=message.pk) is None
    assert len(receiver.requests) == 1

    make_due(message)
    delivery.webhook_deliver_and_schedule(message_id=message.pk)
    message.refresh_from_db()
    assert message.state == "delivered"
    attempts = list(WebhookDelivery.objects.order_by("attempt"))
    assert [(a.attempt, a.status_code, a.ok) for a in attempts] == [(1, 500, False), (2, 200, True)]
    assert attempts[0].retry_at is not None and attempts[1].retry_at is None
    # Both attempts carried the same delivery id, each with its own signature.
    ids = {r.headers["X-Release-Portal-Delivery"] for r in receiver.requests}
    assert ids == {str(message.uid)}


def test_it_backs_off_exponentially_and_gives_up_after_five_attempts(
    project, receiver, webhook_sent
):
    receiver.statuses = [503]
    hook(project, receiver.url)
    (message,) = queue(project)
    delays = []
    for _ in range(5):
        make_due(message)
        delays.append(delivery.webhook_attempt(message_id=message.pk))
    assert delays == [10, 30, 90, 270, None]
    message.refresh_from_db()
    assert (message.state, message.attempts) == ("failed", 5)
    assert WebhookDelivery.objects.filter(ok=False).count() == 5


def test_it_sends_a_slack_compatible_body(project, receiver, webhook_sent, settings):
    settings.PORTAL_BASE_URL = "https://releases.example.com"
    hook(project, receiver.url, format="slack")
    (message,) = queue(project)
    delivery.webhook_attempt(message_id=message.pk)
    body = json.loads(receiver.requests[0].body)
    assert set(body) == {"text", "blocks"}
    assert body["text"] == (
        f"Monitoring alert: Lock requests waiting on production is 3 (> 0) ({project.name})"
    )
    section, context = body["blocks"]
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert "*Monitoring alert*" in section["text"]["text"]
    assert (
        "<https://releases.example.com/releases/7/|Members table (aaaaaaaa)>"
        in (context["elements"][0]["text"])
    )


def test_it_only_queues_for_enabled_webhooks_subscribed_to_the_event(project, webhook_sent):
    hook(project, "https://hooks.example.com/a", name="alerts", events=["monitoring.alert"])
    hook(project, "https://hooks.example.com/b", name="jobs", events=["job.failed"])
    hook(project, "https://hooks.example.com/c", name="off", events=["monitoring.alert"],
         enabled=False)  # fmt: skip
    messages = queue(project)
    assert [m.webhook.name for m in messages] == ["alerts"]


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/",
        "http://169.254.10.1/hook",
        "http://0.0.0.0/hook",
        "http://10.1.2.3/hook",
        "http://[::ffff:169.254.169.254]/",
    ],
)
def test_it_refuses_link_local_metadata_and_private_addresses(project, webhook_sent, url):
    hook(project, url)
    (message,) = queue(project)
    assert delivery.webhook_attempt(message_id=message.pk) == 10
    attempt = WebhookDelivery.objects.get()
    assert attempt.status_code is None and attempt.error.startswith("refused: ")


def test_it_refuses_a_name_that_resolves_to_the_metadata_address(
    project, webhook_sent, monkeypatch
):
    def resolve(host, port, *args, **kwargs):
        assert host == "metadata.example.com"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    hook(project, "https://metadata.example.com/hook")
    (message,) = queue(project)
    delivery.webhook_attempt(message_id=message.pk)
    attempt = WebhookDelivery.objects.get()
    assert "metadata.example.com resolves to 169.254.169.254 is a cloud metadata address" in (
        attempt.error
    )


def test_it_refuses_loopback_unless_the_setting_allows_it(
    project, receiver, webhook_sent, settings
):
    settings.WEBHOOK_ALLOW_LOOPBACK = False
    hook(project, receiver.url)
    (message,) = queue(project)
    delivery.webhook_attempt(message_id=message.pk)
    assert receiver.requests == []
    assert "loopback" in WebhookDelivery.objects.get().error


def test_it_does_not_follow_redirects(project, receiver, webhook_sent):
    receiver.statuses = [302]
    receiver.location = "http://169.254.169.254/latest/meta-data/"
    hook(project, receiver.url)
    (message,) = queue(project)
    assert delivery.webhook_attempt(message_id=message.pk) == 10
    attempt = WebhookDelivery.objects.get()
    assert attempt.status_code == 302 and not attempt.ok
    assert attempt.error == (
        "redirects are not followed (it pointed to http://169.254.169.254/latest/meta-data/)"
    )
    assert len(receiver.requests) == 1


def test_it_gives_up_on_a_receiver_that_does_not_answer_in_time(
    project, receiver, webhook_sent, settings
):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.2
    receiver.hold = 1.0
    hook(project, receiver.url)
    (message,) = queue(project)
    assert delivery.webhook_attempt(message_id=message.pk) == 10
    receiver.released.set()
    attempt = WebhookDelivery.objects.get()
    assert attempt.status_code is None and attempt.error == "no answer within 0.2 s"


def test_the_sweep_resends_lost_messages(project, webhook_sent):
    hook(project, "https://hooks.example.com/a")
    (message,) = queue(project)
    webhook_sent.clear()
    WebhookMessage.objects.filter(pk=message.pk).update(
        next_attempt_at=timezone.now() - timezone.timedelta(minutes=5)
    )
    assert delivery.webhooks_sweep() == 1
    assert webhook_sent == [(message.pk, None)]
