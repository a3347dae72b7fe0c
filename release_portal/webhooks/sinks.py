"""From a notification to queued webhook messages.

``deliver_event`` is the outbox registered with ``release_portal.notify``: it receives
each notification inside the announcing transaction and queues one message per enabled
webhook of the project subscribed to the event, so the messages commit with the change
(or not at all). Each message is sent to Celery after the transaction commits; one the
broker never got is sent again by the sweep.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from release_portal.webhooks import payloads
from release_portal.webhooks.models import Webhook, WebhookMessage

logger = logging.getLogger(__name__)


def send_message(message_id: int, *, countdown: float | None = None) -> None:
    """Publish "message N is due" to Celery (raises the broker's error when it cannot)."""
    from release_portal.webhooks.tasks import webhook_deliver

    if countdown is None:
        webhook_deliver.apply_async(args=(message_id,))
    else:
        webhook_deliver.apply_async(args=(message_id,), countdown=countdown)


def send_after_commit(message_id: int) -> None:
    # robust: a broker that is down leaves the message pending for the sweep.
    transaction.on_commit(lambda: send_message(message_id), robust=True)


@transaction.atomic
def queue_event(
    *,
    event: str,
    project_id: int | None,
    project: str,
    release_id: int | None,
    release: str,
    data: dict[str, Any],
    webhooks: list[Webhook] | None = None,
) -> list[WebhookMessage]:
    """One message per subscribed, enabled webhook of the project (or per ``webhooks``)."""
    if webhooks is None:
        if project_id is None:
            return []
        webhooks = list(
            Webhook.objects.filter(project_id=project_id, enabled=True, events__contains=[event])
        )
    now = timezone.now()
    messages = []
    for webhook in webhooks:
        uid = uuid.uuid4()
        body = payloads.json_body(
            uid=uid, event=event, at=now, project_id=project_id, project=project,
            release_id=release_id, release=release, data=data,
        )  # fmt: skip
        message = WebhookMessage.objects.create(
            webhook=webhook,
            uid=uid,
            event=event,
            release_id=release_id,
            body=payloads.render(webhook.format, body),
            next_attempt_at=now,
        )
        send_after_commit(message.pk)
        messages.append(message)
    return messages


def deliver_event(notification: Any) -> None:
    """The notify outbox: ``notification`` has event, project_id, project, release_id,
    release and data (``release_portal.notify.Notification``)."""
    queue_event(
        event=notification.event,
        project_id=notification.project_id,
        project=notification.project,
        release_id=notification.release_id,
        release=notification.release,
        data=dict(notification.data or {}),
    )


def register() -> None:
    """Add ``deliver_event`` to the notify hub's outboxes (once)."""
    from release_portal.notify import register_outbox

    register_outbox(deliver_event)
