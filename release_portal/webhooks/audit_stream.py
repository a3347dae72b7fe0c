"""Streaming the change log to a SIEM: ``audit.events`` messages, a batch at a time.

Every few seconds beat looks, for each enabled webhook subscribed to ``audit.events``,
at its project's events written since the webhook's cursor, and queues them as signed
messages of at most ``BATCH`` events, oldest first. Each message says which stretch of
the chain it covers (``after_seq`` exclusive to ``to_seq`` inclusive): every event of the
project in that stretch is in it, with its canonical fields and its hashes (``digest``,
``public_hash``, ``hash``), so a receiver can re-hash each event and match the stream with
the checkpoints (``audit.checkpoint``) and exports it also gets.

The cursor moves in the transaction that queues the message (the webhook row locked), so
a message is queued once; delivery retries like any other message. A webhook streams from
the log's head when it is first seen subscribed: the past is what exports are for.
"""

from __future__ import annotations

import logging

from django.db import transaction

from release_portal.audit.selectors import audit_head, project_events_after
from release_portal.webhooks.models import Webhook
from release_portal.webhooks.sinks import queue_event

logger = logging.getLogger(__name__)

EVENT = "audit.events"
BATCH = 200  # events per message
MAX_BATCHES = 25  # messages per webhook per run: a backlog drains over a few runs


def _stream_one(webhook_id: int, head_seq: int) -> int:
    """Queue the next batch for one webhook; the number of events queued."""
    with transaction.atomic():
        webhook = (
            Webhook.objects.select_for_update()
            .select_related("project")
            .filter(pk=webhook_id, enabled=True, events__contains=[EVENT])
            .first()
        )
        if webhook is None:
            return 0
        if webhook.audit_stream_seq is None:  # first seen: from now on
            webhook.audit_stream_seq = head_seq
            webhook.save(update_fields=["audit_stream_seq"])
            return 0
        after = webhook.audit_stream_seq
        if after >= head_seq:
            return 0
        events = project_events_after(
            project_id=webhook.project_id, after_seq=after, up_to=head_seq, limit=BATCH
        )
        # A full batch covers up to its last event; a short one covers up to the head.
        to_seq = events[-1]["seq"] if len(events) == BATCH else head_seq
        if events:
            first, last = events[0]["seq"], events[-1]["seq"]
            queue_event(
                event=EVENT,
                project_id=webhook.project_id,
                project=str(webhook.project),
                release_id=None,
                release="",
                data={
                    "summary": f"{len(events)} change-log event(s), #{first} to #{last}",
                    "after_seq": after,
                    "to_seq": to_seq,
                    "events": events,
                },
                webhooks=[webhook],
            )
        webhook.audit_stream_seq = to_seq
        webhook.save(update_fields=["audit_stream_seq"])
        return len(events)


def audit_stream_tick() -> int:
    """One run of beat's stream: every subscribed webhook gets up to MAX_BATCHES messages.
    Returns the number of events queued."""
    head_seq = audit_head().seq
    subscribed = Webhook.objects.filter(enabled=True, events__contains=[EVENT]).values_list(
        "pk", flat=True
    )
    queued = 0
    for webhook_id in subscribed:
        for _ in range(MAX_BATCHES):
            try:
                count = _stream_one(webhook_id, head_seq)
            except Exception:
                logger.exception("webhook %s: could not stream the change log", webhook_id)
                break
            queued += count
            if count < BATCH:
                break
    return queued
