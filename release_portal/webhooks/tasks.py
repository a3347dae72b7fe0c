"""Thin Celery tasks: ids in, delivery machinery called. The message row is the truth."""

from __future__ import annotations

from celery import shared_task

from release_portal.webhooks import audit_stream, delivery


@shared_task(
    name="release_portal.webhooks.tasks.webhook_deliver",
    ignore_result=True,
    acks_late=True,
    soft_time_limit=60,
    time_limit=90,
)
def webhook_deliver(message_id: int) -> None:
    delivery.webhook_deliver_and_schedule(message_id=message_id)


@shared_task(
    name="release_portal.webhooks.tasks.webhooks_sweep",
    ignore_result=True,
    soft_time_limit=60,
    time_limit=90,
)
def webhooks_sweep() -> None:
    delivery.webhooks_sweep()


@shared_task(
    name="release_portal.webhooks.tasks.webhooks_audit_stream",
    ignore_result=True,
    soft_time_limit=120,
    time_limit=180,
)
def webhooks_audit_stream() -> None:
    audit_stream.audit_stream_tick()
