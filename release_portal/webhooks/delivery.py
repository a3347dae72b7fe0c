"""Delivering one message: claim it, post it signed, log the attempt, schedule the retry.

A message is claimed with one conditional UPDATE (pending and due → sending), so a
duplicate Celery message never sends twice. Failed attempts are retried after
``WEBHOOK_RETRY_DELAYS`` (10 s, 30 s, 90 s, 270 s: five attempts); then the message is
given up. The beat sweep re-sends pending messages whose Celery message was lost and
takes back messages whose worker died while sending.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from release_portal.webhooks import outgoing, signing
from release_portal.webhooks.models import WebhookDelivery, WebhookMessage
from release_portal.webhooks.sinks import send_message

logger = logging.getLogger(__name__)

# A message sent to Celery this long ago and still pending was lost.
LOST_AFTER = timedelta(seconds=60)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def retry_delays() -> list[int]:
    return [int(d) for d in settings.WEBHOOK_RETRY_DELAYS]


def max_attempts() -> int:
    return len(retry_delays()) + 1


def _excerpt(body: bytes) -> str:
    text = _CONTROL.sub("", body.decode("utf-8", errors="replace"))
    return text[: WebhookDelivery.EXCERPT_CHARS]


def _claim(message_id: int) -> WebhookMessage | None:
    now = timezone.now()
    claimed = WebhookMessage.objects.filter(
        pk=message_id,
        state=WebhookMessage.State.PENDING,
        next_attempt_at__lte=now + timedelta(seconds=1),
    ).update(state=WebhookMessage.State.SENDING, attempts=F("attempts") + 1, claimed_at=now)
    if not claimed:
        return None
    return WebhookMessage.objects.select_related("webhook").get(pk=message_id)


def webhook_attempt(*, message_id: int) -> float | None:
    """Make one delivery attempt of ``message_id`` if it is due; the seconds until the next
    attempt when one is scheduled, else None (delivered, given up, or not ours)."""
    message = _claim(message_id)
    if message is None:
        return None
    webhook = message.webhook
    body = message.body.encode()
    answer = outgoing.Answer()
    if not webhook.enabled:
        answer.error = "the webhook is disabled"
    else:
        headers = signing.signed_headers(
            webhook.secret, body, event=message.event, delivery=str(message.uid)
        )
        try:
            answer = outgoing.post(webhook.url, body, headers)
        except outgoing.Refused as refused:
            answer.error = f"refused: {refused}"
    ok = answer.status is not None and 200 <= answer.status < 300
    if answer.status is not None and 300 <= answer.status < 400:
        answer.error = "redirects are not followed" + (
            f" (it pointed to {answer.location[:200]})" if answer.location else ""
        )
    final = ok or message.attempts >= max_attempts() or not webhook.enabled
    delay = None if final else retry_delays()[message.attempts - 1]
    now = timezone.now()
    with transaction.atomic():
        WebhookDelivery.objects.create(
            message=message,
            webhook=webhook,
            event=message.event,
            attempt=message.attempts,
            at=now,
            ok=ok,
            status_code=answer.status,
            response_excerpt=_excerpt(answer.body),
            error=answer.error[:500],
            duration_ms=int(answer.seconds * 1000),
            retry_at=now + timedelta(seconds=delay) if delay is not None else None,
        )
        if final:
            state = WebhookMessage.State.DELIVERED if ok else WebhookMessage.State.FAILED
            WebhookMessage.objects.filter(pk=message.pk).update(state=state, finished_at=now)
        else:
            WebhookMessage.objects.filter(pk=message.pk).update(
                state=WebhookMessage.State.PENDING,
                next_attempt_at=now + timedelta(seconds=delay or 0),
            )
    return delay


def webhook_deliver_and_schedule(*, message_id: int) -> None:
    """What the task does: one attempt, then the next one sent with its countdown."""
    delay = webhook_attempt(message_id=message_id)
    if delay is not None:
        try:
            send_message(message_id, countdown=delay)
        except Exception:
            logger.warning(
                "webhook message %s: could not schedule the retry; the sweep will", message_id
            )


def webhooks_sweep() -> int:
    """Re-send lost messages and take back stuck ones; the number re-sent."""
    now = timezone.now()
    stuck_after = timedelta(seconds=4 * float(settings.WEBHOOK_TIMEOUT_SECONDS) + 60)
    WebhookMessage.objects.filter(
        state=WebhookMessage.State.SENDING, claimed_at__lt=now - stuck_after
    ).update(state=WebhookMessage.State.PENDING, next_attempt_at=now)
    lost = list(
        WebhookMessage.objects.filter(
            state=WebhookMessage.State.PENDING, next_attempt_at__lt=now - LOST_AFTER
        ).values_list("pk", flat=True)[:500]
    )
    for message_id in lost:
        try:
            send_message(message_id)
        except Exception:
            logger.warning("webhooks sweep: the broker refused message %s", message_id)
            break
    return len(lost)
