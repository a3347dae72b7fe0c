"""Telling people that something loud happened: break-glass, a failed deployment...

``notify(event, release, data)`` records an ``notify.<event>`` audit event in the
caller's transaction, hands the notification to every registered outbox in that same
transaction, and, once it commits, to every registered sink. Both are callables taking a
:class:`Notification`:

- an outbox writes rows that must commit with the change (the webhooks feature's
  messages, registered with ``register_outbox``): a crash right after the commit loses
  nothing, as the rows are there for the sweep to send;
- a sink only tells (the log sink is always there; ``register_sink`` adds others).

One that fails is logged and never breaks the change that notified, nor the others (an
outbox runs in its own savepoint).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from release_portal.audit.services import audit_record

logger = logging.getLogger("release_portal.notify")


@dataclass(frozen=True)
class Notification:
    event: str
    project_id: int | None
    project: str
    release_id: int | None
    release: str
    data: dict[str, Any] = field(default_factory=dict)


Sink = Callable[[Notification], None]


def log_sink(notification: Notification) -> None:
    logger.warning(
        "%s: release #%s (%s) of %s: %s",
        notification.event,
        notification.release_id,
        notification.release,
        notification.project,
        notification.data,
    )


SINKS: list[Sink] = [log_sink]
OUTBOXES: list[Sink] = []


def register_sink(sink: Sink) -> None:
    if sink not in SINKS:
        SINKS.append(sink)


def unregister_sink(sink: Sink) -> None:
    if sink in SINKS:
        SINKS.remove(sink)


def register_outbox(outbox: Sink) -> None:
    if outbox not in OUTBOXES:
        OUTBOXES.append(outbox)


def write_outboxes(notification: Notification) -> None:
    """Every outbox, in the caller's transaction, each in a savepoint of its own."""
    for outbox in list(OUTBOXES):
        try:
            with transaction.atomic():
                outbox(notification)
        except Exception:
            logger.exception("notification outbox %r failed for %s", outbox, notification.event)


def deliver(notification: Notification) -> None:
    for sink in list(SINKS):
        try:
            sink(notification)
        except Exception:
            logger.exception("notification sink %r failed for %s", sink, notification.event)


def notify(
    event: str, release: Any, data: dict[str, Any] | None = None, *, actor: Any = None
) -> None:
    """Record ``event`` for ``release``, write it to the outboxes now and send it to the
    sinks after commit.

    Must run inside the transaction of the change it announces; ``data`` must hold no
    secret values (it goes to the change log and to every sink).
    """
    data = dict(data or {})
    audit_record(actor=actor, action=f"notify.{event}", obj=release, data=data)
    notification = Notification(
        event=event,
        project_id=getattr(release, "project_id", None),
        project=str(getattr(release, "project", "")),
        release_id=getattr(release, "pk", None),
        release=str(release),
        data=data,
    )
    write_outboxes(notification)
    transaction.on_commit(lambda: deliver(notification), robust=True)
