"""Reads for the webhooks pages."""

from __future__ import annotations

from typing import Any

from release_portal.webhooks.models import Webhook, WebhookDelivery

LOG_ROWS = 50


def project_webhooks(project: Any) -> list[Webhook]:
    return list(Webhook.objects.filter(project=project).order_by("name"))


def delivery_log(*, project: Any = None, webhook: Webhook | None = None, limit: int = LOG_ROWS):
    """The latest attempts, newest first, with their webhook's name (one query)."""
    rows = WebhookDelivery.objects.select_related("webhook").only(
        "event", "attempt", "at", "ok", "status_code", "response_excerpt", "error",
        "duration_ms", "retry_at", "webhook__name", "message_id",
    )  # fmt: skip
    if webhook is not None:
        rows = rows.filter(webhook=webhook)
    else:
        rows = rows.filter(webhook__project=project)
    return list(rows.order_by("-at", "-pk")[:limit])
