"""The events a webhook can subscribe to, and one hook function per event for its source.

Each hook runs inside the transaction of the change it announces. It goes through
``release_portal.notify.notify`` (change-log event and the webhook messages in the
same transaction, then every registered sink after commit); for an event without a
release it records the same ``notify.<event>`` audit event and writes the messages
itself, in the same transaction too.

Who calls what:
- ``job_failed``: the job engine's "webhooks.failed" end hook (receivers.py);
- ``monitoring_alert``: migrations_ops.monitoring when a health query crosses its threshold;
- ``release_approved``, ``signoff_stale``: the release services (checklists) when a
  release becomes approved and when a sign-off goes stale;
- ``backup_verified``: the restore check that verified a backup;
- ``incident_opened``, ``incident_closed``: the incident services;
- ``gate.break_glass``, ``deploy.failed``, ``rollback.failed``: sent through ``notify``
  by the deployment services; the sink picks them up, nothing to call here;
- ``audit.checkpoint``: every signed checkpoint of the change log (receivers.py hears
  ``checkpoint_signed``), to every subscribed webhook of every project: a checkpoint
  proves something only when someone outside the portal keeps it;
- ``audit.events``: the project's change-log events in batches, as beat finds them
  (audit_stream.py), so a SIEM can follow the log;
- ``api_token.expiring``: the API's daily beat task (release_portal.api.expiry), once per
  token entering its last 7 days.
"""

from __future__ import annotations

import logging
from typing import Any

from migrations_ops.jobs.output import holds_production_rows
from release_portal.audit.services import audit_record
from release_portal.notify import Notification, notify, write_outboxes

logger = logging.getLogger(__name__)

EVENTS: dict[str, str] = {
    "release.approved": "Release approved",
    "signoff.stale": "Sign-off went stale",
    "job.failed": "Job failed",
    "backup.verified": "Backup verified",
    "incident.opened": "Incident opened",
    "incident.closed": "Incident closed",
    "monitoring.alert": "Monitoring alert",
    "gate.break_glass": "Gate break-glass",
    "deploy.failed": "Deployment failed",
    "rollback.failed": "Rollback failed",
    "audit.checkpoint": "Change log checkpoint (signed head)",
    "audit.events": "Change log events, as they are written (for a SIEM)",
    "api_token.expiring": "API token expiring soon",
}
PING = "webhook.ping"


def event_label(event: str) -> str:
    return EVENTS.get(event, "Test message" if event == PING else event)


def announce(
    event: str,
    *,
    release: Any = None,
    project: Any = None,
    data: dict[str, Any] | None = None,
    actor: Any = None,
) -> None:
    """Record ``event`` in the change log and queue its webhook messages, in the caller's
    transaction. ``data`` must hold no secret values.

    With a release this is ``notify(event, release, data)``. Without one (a project's
    job), the same audit event is written here and the outboxes (the project's webhook
    messages) are written directly.
    """
    data = dict(data or {})
    if release is not None:
        notify(event, release, data, actor=actor)
        return
    audit_record(actor=actor, action=f"notify.{event}", obj=project, project=project, data=data)
    project_id = project if isinstance(project, int) or project is None else project.pk
    write_outboxes(
        Notification(
            event=event,
            project_id=project_id,
            project=str(project or ""),
            release_id=None,
            release="",
            data=data,
        )
    )


# --- one hook per event source --------------------------------------------------------------


def job_failed(job: Any) -> None:
    # Every member reads the notice, and a webhook's receiver is no member: a job over
    # production's rows is announced without what it wrote (jobs.output).
    what = (
        "its log and details are shown to SREs and platform leads only"
        if holds_production_rows(job.kind)
        else job.summary
    )
    announce(
        "job.failed",
        release=job.release,
        project=job.project,
        data={
            "summary": f"{job.get_kind_display()} #{job.pk} {job.get_state_display().lower()}: "
            f"{what}",
            "job": job.pk,
            "kind": job.kind,
            "state": job.state,
            "target": job.target.name if job.target_id else None,
            "path": f"/jobs/{job.pk}/",
        },
    )


def release_approved(*, release: Any, actor: Any = None) -> None:
    announce(
        "release.approved",
        release=release,
        data={"summary": f"{release} is approved", "digest": release.digest},
        actor=actor,
    )


def signoff_stale(*, signoff: Any, reason: str, actor: Any = None) -> None:
    who = signoff.user.get_username() if signoff.user_id else ""
    announce(
        "signoff.stale",
        release=signoff.release,
        data={
            "summary": f"{who}'s {signoff.get_kind_display()} sign-off went stale: {reason}",
            "user": who,
            "kind": signoff.kind,
            "reason": reason,
        },
        actor=actor,
    )


def backup_verified(*, manifest: Any, result: str = "", actor: Any = None) -> None:
    release = getattr(manifest, "release", None)
    announce(
        "backup.verified",
        release=release,
        project=getattr(manifest, "project", None) or getattr(release, "project", None),
        data={
            "summary": f"backup #{manifest.pk} was restored and verified {result}".strip(),
            "backup": manifest.pk,
            "result": result,
        },
        actor=actor,
    )


def incident_opened(*, incident: Any, actor: Any = None) -> None:
    _incident("incident.opened", incident, "opened", actor)


def incident_closed(*, incident: Any, actor: Any = None) -> None:
    _incident("incident.closed", incident, "closed", actor)


def _incident(event: str, incident: Any, what: str, actor: Any) -> None:
    release = getattr(incident, "release", None)
    title = getattr(incident, "title", "") or f"#{incident.pk}"
    announce(
        event,
        release=release,
        project=getattr(incident, "project", None) or getattr(release, "project", None),
        data={"summary": f"incident {title} {what}", "incident": incident.pk},
        actor=actor,
    )


def api_token_expiring(*, token: Any, data: dict[str, Any]) -> None:
    """A project's API token enters its last days (no release: the project's webhooks)."""
    announce("api_token.expiring", project=token.project, data=data)


def monitoring_alert(*, release: Any, data: dict[str, Any], actor: Any = None) -> None:
    announce("monitoring.alert", release=release, data=data, actor=actor)


def audit_checkpoint(*, document: dict[str, Any], rotation: dict[str, Any] | None = None) -> None:
    """Queue the signed checkpoint for every enabled webhook subscribed to it (any project).

    Runs after the checkpoint's transaction committed. ``data.checkpoint`` is the signed
    document exactly (``scripts/verify_changelog.py --checkpoint`` takes it as a file);
    ``data.rotation`` is the signed key rotation when the key changed with it.
    """
    from release_portal.webhooks.models import Webhook
    from release_portal.webhooks.sinks import queue_event

    projects = (
        Webhook.objects.filter(enabled=True, events__contains=["audit.checkpoint"])
        .values_list("project_id", "project__name")
        .distinct()
    )
    data: dict[str, Any] = {
        "summary": f"change log signed at event #{document['seq']} ({document['reason']})",
        "checkpoint": document,
    }
    if rotation:
        data["rotation"] = rotation
    for project_id, project_name in projects:
        queue_event(
            event="audit.checkpoint", project_id=project_id, project=project_name,
            release_id=None, release="", data=data,
        )  # fmt: skip
