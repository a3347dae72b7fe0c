"""Telling people that something loud happened: break-glass, a failed deployment...

``notify(event, release, data)`` records an ``notify.<event>`` audit event in the
caller's transaction and, once that transaction commits, hands the notification to
every registered sink. A sink is a callable taking a :class:`Notification`; the log
sink is always there, and the webhooks feature registers its own with
``register_sink``. A sink that fails is logged and never breaks the change that
notified, nor the other sinks.
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


def register_sink(sink: Sink) -> None:
    if sink not in SINKS:
        SINKS.append(sink)


def unregister_sink(sink: Sink) -> None:
    if sink in SINKS:
        SINKS.remove(sink)


def deliver(notification: Notification) -> None:
    for sink in list(SINKS):
        try:
            sink(notification)
        except Exception:
            logger.exception("notification sink %r failed for %s", sink, notification.event)


def notify(
    event: str, release: Any, data: dict[str, Any] | None = None, *, actor: Any = None
) -> None:
    """Record ``event`` for ``release`` and send it to the sinks after commit.

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
    transaction.on_commit(lambda: deliver(notification), robust=True)
