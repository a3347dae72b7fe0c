"""A project's outgoing webhooks, the messages queued for them, and every delivery attempt."""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

SECRET_PREFIX = "rpwh_"  # noqa: S105  (a marker, not a secret)


def new_secret() -> str:
    """A signing secret: 256 random bits, prefixed so a leaked one is recognisable."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


class Webhook(models.Model):
    """A URL that receives some of a project's events, signed with the webhook's secret.

    The secret is the portal's own signing key for this receiver (not a user's
    credential): it is stored to sign each request, shown once when created or rotated.
    """

    class Format(models.TextChoices):
        JSON = "json", "JSON (Release Portal)"
        SLACK = "slack", 'Slack-compatible ({"text": ...})'

    project = models.ForeignKey(
        "migrations_ops.Project", on_delete=models.CASCADE, related_name="webhooks"
    )
    name = models.CharField(max_length=80)
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=100, default=new_secret)
    events = ArrayField(models.CharField(max_length=40), default=list)
    format = models.CharField(max_length=10, choices=Format.choices, default=Format.JSON)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    secret_rotated_at = models.DateTimeField(null=True, blank=True)
    # The change log streamed to this webhook (``audit.events``): the newest seq considered.
    # None until the first run, which starts from the head of the log at that time.
    audit_stream_seq = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["project", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="webhook_name_per_project")
        ]
        indexes = [
            # Fan-out of an event: the project's enabled webhooks (events filtered in SQL).
            models.Index(fields=["project", "enabled"], name="webhook_by_project"),
        ]

    def __str__(self) -> str:
        return self.name


class WebhookMessage(models.Model):
    """One event for one webhook: the exact body to send, and where its delivery stands."""

    class State(models.TextChoices):
        PENDING = "pending", "Waiting"
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Gave up"

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="messages")
    # Sent as X-Release-Portal-Delivery, the same on every retry: receivers de-duplicate.
    uid = models.UUIDField(default=uuid.uuid4, editable=False)
    event = models.CharField(max_length=40)
    release_id = models.BigIntegerField(null=True, blank=True)
    body = models.TextField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["uid"], name="webhook_message_uid")]
        indexes = [
            # The sweep: pending messages whose send time passed long ago, and sending
            # ones whose worker went away.
            models.Index(fields=["state", "next_attempt_at"], name="webhook_message_due"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.webhook_id} ({self.state})"


class WebhookDelivery(models.Model):
    """One attempt to deliver a message: what the receiver answered, or what went wrong."""

    EXCERPT_CHARS = 500

    message = models.ForeignKey(WebhookMessage, on_delete=models.CASCADE, related_name="deliveries")
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40)
    attempt = models.PositiveSmallIntegerField()
    at = models.DateTimeField()
    ok = models.BooleanField(default=False)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.CharField(max_length=EXCERPT_CHARS, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    # Whether another attempt was scheduled after this one, and when.
    retry_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [
            # The webhooks page: a webhook's latest attempts, newest first.
            models.Index(fields=["webhook", "-at"], name="webhook_delivery_log"),
        ]

    def __str__(self) -> str:
        return f"{self.event} attempt {self.attempt}: {self.status_code or self.error[:40]}"
