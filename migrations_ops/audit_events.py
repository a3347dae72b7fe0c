"""How the change log says this app's events in words (jobs, backups, targets...).

Registered with the change log from ``MigrationsOpsConfig.ready()``: the audit package
never imports this app (see release_portal/audit/registry.py).
"""

from __future__ import annotations

from typing import Any

from release_portal.audit.registry import EventType, register_event_groups


def _job_finish(event: Any) -> str:
    state = (event.data or {}).get("state") or "?"
    return f"finished {event.object_repr or 'a job'} ({state})"


def _changed(what: str) -> Any:
    def phrase(event: Any) -> str:
        changed = (event.data or {}).get("changed") or {}
        names = ", ".join(sorted(changed)) if isinstance(changed, dict) else ""
        return f"changed {what}" + (f" ({names})" if names else "")

    return phrase


GROUPS = {
    "job": "Jobs",
    "backup": "Backups",
    "rollback_plan": "Rollback plans",
    "incident": "Incidents",
    "monitoring": "Monitoring",
    "health_query": "Health queries",
    "target": "Targets",
    "project": "Project settings",
    "apply": "Applying migrations",
}

EVENTS = {
    "job.enqueue": EventType("Job queued", "queued {object}"),
    "job.start": EventType("Job started", "started {object} (attempt {data[attempt]})"),
    "job.finish": EventType("Job finished", _job_finish, "{data[summary]}"),
    "job.cancel_request": EventType("Job cancel requested", "asked {object} to stop"),
    "job.retry": EventType("Job retried", "retried {object} as job #{data[new_job]}"),
    "job.requeue": EventType("Job requeued", "put {object} back in the queue"),
    "backup.capture": EventType("Backup started", "started a backup of {data[target]}"),
    "backup.record": EventType("Backup recorded", "recorded the backup {data[file]}"),
    "backup.verify_start": EventType(
        "Restore check started", "started a restore check of {data[file]}"
    ),
    "backup.verify": EventType(
        "Backup verified", "checked the backup {data[file]}", "{data[summary]}"
    ),
    "backup.snapshot_ref": EventType(
        "Snapshot reference", "logged the Supabase snapshot {data[after]} for {data[file]}"
    ),
    "backup.delete": EventType("Backup deleted", "deleted the backup {data[file]}"),
    "backup.download": EventType("Backup downloaded", "downloaded the backup {data[file]}"),
    "rollback_plan.save": EventType("Rollback plan saved", "saved {object}"),
    "rollback_plan.rehearse": EventType(
        "Rollback rehearsal started", "started a rehearsal of {object}"
    ),
    "rollback_plan.rehearsal": EventType(
        "Rollback rehearsed", "rehearsed {object}", "{data[summary]}"
    ),
    "apply.start": EventType("Apply started", "started applying the migrations to {data[target]}"),
    "apply.refused": EventType("Apply refused", "was refused applying to {data[target]}"),
    "monitoring.start": EventType(
        "Monitoring started", "started monitoring {data[target]} for {data[minutes]} minutes"
    ),
    "monitoring.close": EventType(
        "Monitoring closed", "closed the monitoring window", "{data[reason]}"
    ),
    "monitoring.end": EventType("Monitoring ended", "ended the monitoring window ({data[to]})"),
    "monitoring.alert": EventType(
        "Monitoring alert", "raised a monitoring alert", "{data[summary]}"
    ),
    "monitoring.settings": EventType("Monitoring settings", "changed the monitoring window"),
    "health_query.create": EventType("Health query added", "added the health query {object}"),
    "health_query.update": EventType("Health query changed", "changed the health query {object}"),
    "target.create": EventType("Target added", "added the target {data[name]} ({data[kind]})"),
    "target.update": EventType("Target changed", _changed("the target {object}")),
    "target.delete": EventType("Target removed", "removed the target {data[name]}"),
    "target.test_connection": EventType(
        "Target connection tested", "tested the connection to {object}"
    ),
    "project.create": EventType(
        "Project created", "created the project {data[name]}", "first platform lead {data[lead]}"
    ),
    "project.settings_update": EventType(
        "Project settings changed", _changed("the project's settings")
    ),
    "incident.opened": EventType("Incident opened", "opened {object}", "{data[text]}"),
    "incident.maintenance": EventType("Maintenance mode", "updated {object}", "{data[text]}"),
    "incident.assessment": EventType("Incident assessed", "assessed {object}", "{data[text]}"),
    "incident.plan": EventType(
        "Incident plan chosen", "chose the rollback plan for {object}", "{data[text]}"
    ),
    "incident.job": EventType("Incident job", "started a job for {object}", "{data[text]}"),
    "incident.job_end": EventType("Incident job finished", "updated {object}", "{data[text]}"),
    "incident.status": EventType("Incident update", "posted on {object}", "{data[text]}"),
    "incident.closed": EventType("Incident closed", "closed {object}"),
}


def register() -> None:
    register_event_groups(EVENTS, GROUPS)
