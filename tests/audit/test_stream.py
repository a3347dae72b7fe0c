"""Streaming the change log to a SIEM: ``audit.events`` webhook messages, batch by batch."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.conf import settings

from release_portal.webhooks import audit_stream, tasks
from release_portal.webhooks.models import Webhook, WebhookMessage
from release_portal.webhooks.signing import signed_headers, verify
from tests.audit.conftest import record

pytestmark = pytest.mark.django_db


@pytest.fixture
def siem(project, monkeypatch):
    from release_portal.webhooks import sinks

    monkeypatch.setattr(sinks, "send_message", lambda message_id, countdown=None: None)
    return Webhook.objects.create(
        project=project, name="siem", url="https://siem.example.com/in", events=["audit.events"]
    )


def batches() -> list[dict]:
    return [
        json.loads(m.body)["data"]
        for m in WebhookMessage.objects.filter(event="audit.events").order_by("pk")
    ]


def test_it_streams_the_projects_new_events_from_when_it_subscribed(siem, project, other_project):
    before = record("item.tick", project=project)
    audit_stream.audit_stream_tick()  # first seen: starts at the head, sends nothing
    assert batches() == []
    mine = [record("item.tick", project=project, data={"i": i}) for i in range(3)]
    record("member.add", project=other_project)  # another project's: never in this stream
    audit_stream.audit_stream_tick()
    [batch] = batches()
    assert [e["seq"] for e in batch["events"]] == [e.seq for e in mine]
    assert batch["after_seq"] == before.seq and batch["to_seq"] == mine[-1].seq + 1
    # Each event as hashed: a receiver re-hashes it.
    first = batch["events"][0]
    fields = {k: v for k, v in first.items() if k not in {"digest", "public_hash", "hash"}}
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(canonical.encode()).hexdigest() == first["digest"] == mine[0].digest
    audit_stream.audit_stream_tick()  # nothing new: nothing sent twice
    assert len(batches()) == 1


def test_a_backlog_goes_in_batches_oldest_first(siem, project, monkeypatch):
    audit_stream.audit_stream_tick()
    monkeypatch.setattr(audit_stream, "BATCH", 4)
    written = [record("item.tick", project=project).seq for _ in range(10)]
    assert audit_stream.audit_stream_tick() == 10
    sent = batches()
    assert [len(b["events"]) for b in sent] == [4, 4, 2]
    assert [e["seq"] for b in sent for e in b["events"]] == written
    assert [b["after_seq"] for b in sent[1:]] == [b["to_seq"] for b in sent[:-1]]


def test_its_messages_are_signed_like_every_webhook_message(siem, project):
    audit_stream.audit_stream_tick()
    record("item.tick", project=project)
    tasks.webhooks_audit_stream.apply()  # what beat runs
    message = WebhookMessage.objects.get(event="audit.events")
    body = message.body.encode()
    headers = signed_headers(siem.secret, body, event=message.event, delivery=str(message.uid))
    assert verify(
        siem.secret, body=body, timestamp=headers["X-Release-Portal-Timestamp"],
        header=headers["X-Release-Portal-Signature"],
    )  # fmt: skip
    assert "webhooks-audit-stream" in settings.CELERY_BEAT_SCHEDULE


def test_unsubscribed_and_disabled_webhooks_get_nothing(siem, project):
    audit_stream.audit_stream_tick()
    Webhook.objects.filter(pk=siem.pk).update(enabled=False)
    record("item.tick", project=project)
    audit_stream.audit_stream_tick()
    assert batches() == []
