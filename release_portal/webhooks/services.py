"""Managing a project's webhooks: create, change, rotate the secret, delete, send a test.

Keyword-only, one transaction each, audited; the secret's value never goes into the
change log, nor does the URL beyond its host (its path and query are often a secret).
Permission (MANAGE_PROJECT) is checked here as well as in the views.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from release_portal.accounts.roles import Action, can
from release_portal.audit.services import audit_record
from release_portal.webhooks import outgoing
from release_portal.webhooks.events import EVENTS, PING
from release_portal.webhooks.models import Webhook, WebhookMessage, new_secret
from release_portal.webhooks.sinks import queue_event


def _require(user: Any, project: Any) -> None:
    if not can(user, Action.MANAGE_PROJECT, project):
        raise PermissionDenied("Only platform leads manage webhooks.")


def _clean(*, url: str, events: list[str], name: str) -> None:
    if not name.strip():
        raise ValidationError("Give the webhook a name.")
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        raise ValidationError(f"Unknown events: {', '.join(unknown)}.")
    try:
        outgoing.check_destination(url)
    except outgoing.Refused as refused:
        raise ValidationError(f"This URL cannot be used: {refused}.") from None


def _fields(webhook: Webhook) -> dict[str, Any]:
    """What the change log keeps of a webhook."""
    return {
        "name": webhook.name,
        "url_host": outgoing.host_of(webhook.url),
        "events": list(webhook.events),
        "format": webhook.format,
        "enabled": webhook.enabled,
    }


@transaction.atomic
def webhook_create(
    *,
    project: Any,
    user: Any,
    name: str,
    url: str,
    events: list[str],
    format: str,
    enabled: bool = True,
) -> Webhook:
    """A new webhook with a fresh secret (show ``webhook.secret`` once)."""
    _require(user, project)
    _clean(url=url, events=events, name=name)
    try:
        with transaction.atomic():
            webhook = Webhook.objects.create(
                project=project, name=name.strip(), url=url, events=sorted(set(events)),
                format=format, enabled=enabled, created_by=user,
            )  # fmt: skip
    except IntegrityError:
        raise ValidationError(f"{project} already has a webhook named {name.strip()!r}.") from None
    audit_record(actor=user, action="webhook.create", obj=webhook, data=_fields(webhook))
    return webhook


@transaction.atomic
def webhook_update(
    *,
    webhook: Webhook,
    user: Any,
    name: str,
    url: str,
    events: list[str],
    format: str,
    enabled: bool,
) -> Webhook:
    _require(user, webhook.project_id)
    _clean(url=url, events=events, name=name)
    webhook = Webhook.objects.select_for_update().get(pk=webhook.pk)
    before, before_url = _fields(webhook), webhook.url
    webhook.name, webhook.url, webhook.format, webhook.enabled = name.strip(), url, format, enabled
    webhook.events = sorted(set(events))
    try:
        with transaction.atomic():
            webhook.save()
    except IntegrityError:
        raise ValidationError(f"Another webhook is named {name.strip()!r}.") from None
    after = _fields(webhook)
    changed = {k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]}
    if url != before_url:  # a new path on the same host is a change the log shows too
        changed["url_host"] = {"from": before["url_host"], "to": after["url_host"]}
    if changed:
        audit_record(actor=user, action="webhook.update", obj=webhook, data=changed)
    return webhook


@transaction.atomic
def webhook_rotate_secret(*, webhook: Webhook, user: Any) -> Webhook:
    """A new secret; the old one stops signing at once (update the receiver first-hand)."""
    _require(user, webhook.project_id)
    webhook = Webhook.objects.select_for_update().get(pk=webhook.pk)
    webhook.secret = new_secret()
    webhook.secret_rotated_at = timezone.now()
    webhook.save(update_fields=["secret", "secret_rotated_at"])
    audit_record(actor=user, action="webhook.rotate_secret", obj=webhook, data={})
    return webhook


@transaction.atomic
def webhook_delete(*, webhook: Webhook, user: Any) -> None:
    _require(user, webhook.project_id)
    audit_record(actor=user, action="webhook.delete", obj=webhook, data=_fields(webhook))
    webhook.delete()


@transaction.atomic
def webhook_ping(*, webhook: Webhook, user: Any) -> WebhookMessage:
    """Queue a signed test message to ``webhook`` (whatever events it subscribes to)."""
    _require(user, webhook.project_id)
    project = webhook.project
    (message,) = queue_event(
        event=PING, project_id=project.pk, project=str(project), release_id=None, release="",
        data={"summary": f"test message from the Release Portal to {webhook.name}"},
        webhooks=[webhook],
    )  # fmt: skip
    audit_record(actor=user, action="webhook.ping", obj=webhook, data={"message": message.pk})
    return message
