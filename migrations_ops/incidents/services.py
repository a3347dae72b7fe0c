"""Incidents (runbook §5.2): freeze writes, assess, roll back, validate, communicate, close.

Every action is one transaction that writes a timeline entry and its audit event. Calls
to the outside (the maintenance webhook, reading the target's history) happen before the
transaction opens, and their outcome is recorded. A rollback job holds the target's
deploy lock; when it succeeds the release moves failed → rolled_back.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from checklists.deployments.services import (
    deployment_finish_for_job,
    deployment_start,
    release_rolled_back,
)
from checklists.models import Deployment, Release
from checklists.services.errors import AlreadyDone
from migrations_ops.jobs.output import summary_for_all
from migrations_ops.jobs.services import job_enqueue
from migrations_ops.models import Incident, IncidentEntry, Job, RollbackPlan, Target
from migrations_ops.rollback.services import (
    read_target_history,
    release_migrations,
    rollback_plan_save,
)
from release_portal.accounts.access import require_actor
from release_portal.accounts.roles import Action
from release_portal.audit.services import Actor, actor_of, audit_record
from release_portal.notify import notify
from release_portal.webhooks import outgoing

E = IncidentEntry.Kind
_STATUSES = frozenset(status.value for status in HTTPStatus)


class IncidentError(ValidationError):
    """An incident action that cannot be done; the message says why and what to do."""


def _require(user: Any, project_id: int, action: Action = Action.MANAGE_INCIDENTS) -> None:
    require_actor(user, action, project_id, "Only SREs and platform leads act on incidents.")


def _locked(incident: Incident) -> Incident:
    locked = (
        Incident.objects.select_for_update(of=("self",))
        .select_related("release", "target", "project", "plan")
        .get(pk=incident.pk)
    )
    if not locked.is_open:
        raise IncidentError(f"Incident #{locked.pk} is closed.")
    return locked


def _entry(
    incident: Incident, actor: Any, kind: str, text: str, *, job: Job | None = None,
    data: dict[str, Any] | None = None,
) -> IncidentEntry:  # fmt: skip
    entry = IncidentEntry.objects.create(
        incident=incident, kind=kind, text=text[:5000], actor_name=actor_of(actor).name[:200],
        job=job, data=data or {},
    )  # fmt: skip
    audit_record(
        actor=actor, action=f"incident.{kind}", obj=incident, project=incident.project_id,
        release=incident.release_id, data={"text": entry.text, "job": getattr(job, "pk", None),
                                           **(data or {})},
    )  # fmt: skip
    return entry


@transaction.atomic
def incident_open(
    *, release: Release, target: Target, user: Any, title: str, trigger: str, error_text: str = ""
) -> Incident:
    """Open an incident on ``release`` at ``target`` (after a failed deploy or an alert)."""
    _require(user, release.project_id)
    if target.project_id != release.project_id:
        raise IncidentError(f"The target {target.name} belongs to another project.")
    if trigger not in Incident.Trigger.values:
        raise IncidentError("Say what started it: a failed deployment or a monitoring alert.")
    title = " ".join(title.split())[:200]
    if not title:
        raise IncidentError("Give the incident a short title.")
    Release.objects.select_for_update().filter(pk=release.pk).first()
    existing = Incident.objects.filter(release=release, target=target, state="open").first()
    if existing is not None:
        raise AlreadyDone(f"Incident #{existing.pk} is already open for this release on "
                          f"{target.name}: work there.")  # fmt: skip
    who = actor_of(user)
    incident = Incident.objects.create(
        project=release.project, release=release, target=target, title=title, trigger=trigger,
        error_text=error_text.strip()[:20000], opened_by=user if who.kind == "user" else None,
        opened_by_name=who.name[:200],
    )  # fmt: skip
    _entry(incident, user, E.OPENED,
           f"Opened ({incident.get_trigger_display().lower()}) on {target.name}: {title}",
           data={"release_state": release.state})  # fmt: skip
    notify("incident.opened", release, {"incident": incident.pk, "title": title,
                                        "target": target.name}, actor=user)  # fmt: skip
    return incident


def _call_webhook(url: str, on: bool) -> tuple[bool, str]:
    """POST the switch through the portal's outgoing guard (release_portal.webhooks.outgoing:
    checked addresses only, no redirects). What it says names the host, never the URL:
    its path or query is often the webhook's secret."""
    if not url:
        return True, "no maintenance webhook is configured: flip the app's flag by hand"
    host = urlsplit(url).hostname or "the webhook"
    body = json.dumps({"maintenance_mode": on}).encode()
    try:
        answer = outgoing.post(
            url, body, {}, timeout=float(settings.MAINTENANCE_WEBHOOK_TIMEOUT_SECONDS)
        )
    except outgoing.Refused as refused:
        return False, f"the webhook at {host} was refused: {refused}"
    if answer.status is None:
        return False, f"the webhook at {host} could not be reached: {answer.error}"
    if 300 <= answer.status < 400:
        return False, (
            f"the webhook at {host} answered {answer.status} (redirects are not followed)"
        )
    reason = HTTPStatus(answer.status).phrase if answer.status in _STATUSES else ""
    said = f"the webhook at {host} answered {answer.status} {reason}".rstrip()
    return 200 <= answer.status < 300, said


def incident_maintenance(*, incident: Incident, user: Any, on: bool) -> Incident:
    """Record maintenance mode on/off and POST it to the project's webhook, if any.

    A webhook that fails is shown on the timeline; the switch is recorded all the same
    (a person then flips the app's flag by hand).
    """
    _require(user, incident.project_id)
    if incident.maintenance_mode == on:
        raise AlreadyDone(f"Maintenance mode is already {'on' if on else 'off'}.")
    if not incident.is_open:
        raise IncidentError(f"Incident #{incident.pk} is closed.")
    ok, said = _call_webhook(incident.project.maintenance_webhook_url, on)
    return _record_maintenance(incident=incident, user=user, on=on, ok=ok, said=said)


@transaction.atomic
def _record_maintenance(
    *, incident: Incident, user: Any, on: bool, ok: bool, said: str
) -> Incident:
    incident = _locked(incident)
    if incident.maintenance_mode == on:
        raise AlreadyDone(f"Maintenance mode is already {'on' if on else 'off'}.")
    incident.maintenance_mode = on
    incident.save(update_fields=["maintenance_mode"])
    state = "on (writes frozen)" if on else "off"
    text = f"Maintenance mode {state}; {said}" + ("" if ok else " (not blocking: flip it by hand)")
    _entry(incident, user, E.MAINTENANCE, text,
           data={"maintenance_mode": on, "webhook_ok": ok})  # fmt: skip
    return incident


def incident_assess(*, incident: Incident, user: Any, error_text: str = "") -> Incident:
    """Read the target's migration history live and record the last good version."""
    _require(user, incident.project_id)
    try:
        history: list[str] | None = read_target_history(incident.target)
        problem = ""
    except ValidationError as e:
        history, problem = None, " ".join(e.messages)
    return _record_assessment(incident=incident, user=user, history=history, problem=problem,
                              error_text=error_text)  # fmt: skip


@transaction.atomic
def _record_assessment(
    *, incident: Incident, user: Any, history: list[str] | None, problem: str, error_text: str
) -> Incident:
    incident = _locked(incident)
    ours = {m.version for m in release_migrations(incident.release, incident.target)}
    if error_text.strip():
        incident.error_text = error_text.strip()[:20000]
    if history is None:
        incident.assessment = {"read_at": timezone.now().isoformat(), "error": problem}
        text = f"Could not read {incident.target.name}'s migration history: {problem}"
    else:
        others = [v for v in history if v not in ours]
        applied_ours = [v for v in history if v in ours]
        incident.assessment = {
            "read_at": timezone.now().isoformat(), "history": history,
            "last_good": others[-1] if others else None, "release_applied": applied_ours,
            "newest_applied": history[-1] if history else None,
        }  # fmt: skip
        text = (
            f"{incident.target.name}: {len(history)} migration(s) applied, newest "
            f"{history[-1] if history else 'none'}; the release's applied: "
            f"{', '.join(applied_ours) or 'none'}; last good {others[-1] if others else 'none'}"
        )
    incident.save(update_fields=["assessment", "error_text"])
    _entry(incident, user, E.ASSESSMENT, text, data={"assessment": incident.assessment})
    return incident


def incident_plan(
    *, incident: Incident, user: Any, plan: RollbackPlan | None = None, backup_id: int | None = None
) -> Incident:
    """Attach ``plan``, or work out and save a new one from the target's history now."""
    _require(user, incident.project_id)
    _require(user, incident.project_id, Action.MANAGE_ROLLBACKS)
    if plan is None:
        plan = rollback_plan_save(release=incident.release, target=incident.target, user=user,
                                  backup_id=backup_id)  # fmt: skip
    elif (plan.release_id, plan.target_id) != (incident.release_id, incident.target_id):
        raise IncidentError("That plan is for another release or target.")
    return _record_plan(incident=incident, user=user, plan=plan)


@transaction.atomic
def _record_plan(*, incident: Incident, user: Any, plan: RollbackPlan) -> Incident:
    incident = _locked(incident)
    incident.plan = plan
    incident.save(update_fields=["plan"])
    steps = "; ".join(
        f"{s['kind']} {s.get('file') or ''} ({s.get('loses_text', '')})" for s in plan.steps
    )
    _entry(incident, user, E.PLAN,
           f"Rollback plan #{plan.pk}: back to {plan.last_good_version or 'none'}: {steps}",
           data={"plan": plan.pk})  # fmt: skip
    return incident


@transaction.atomic
def incident_rollback_start(*, incident: Incident, user: Any) -> Job:
    """Run the incident's plan against the target (a rollback job, live output)."""
    _require(user, incident.project_id)
    _require(user, incident.project_id, Action.MANAGE_ROLLBACKS)
    incident = _locked(incident)
    if incident.plan is None:
        raise IncidentError("Attach a rollback plan first (step 3).")
    if not incident.maintenance_mode:
        raise IncidentError("Turn maintenance mode on first: writes must be frozen before a "
                            "rollback (runbook §5.2 step 1).")  # fmt: skip
    active = Job.objects.filter(
        kind=Job.Kind.ROLLBACK, release=incident.release, target=incident.target,
        state__in=Job.ACTIVE_STATES,
    ).first()  # fmt: skip
    if active is not None:
        raise AlreadyDone(f"already running: job #{active.pk}")
    # The target's deploy lock (checklists.deployments.services): refused with DeployLocked while a
    # deployment or another rollback of the target is reported started.
    deployment = deployment_start(
        release=incident.release, target=incident.target, actor=user,
        kind=Deployment.Kind.ROLLBACK,
    )  # fmt: skip
    job = job_enqueue(
        kind=Job.Kind.ROLLBACK, project=incident.project, release=incident.release,
        target=incident.target, created_by=user,
        params={"plan_id": incident.plan.pk, "incident_id": incident.pk,
                "deployment_id": deployment.pk},
    )  # fmt: skip
    _entry(incident, user, E.JOB, f"Rollback started: {job} runs plan #{incident.plan.pk}",
           job=job)  # fmt: skip
    return job


@transaction.atomic
def rollback_start(*, release: Release, target: Target, user: Any) -> Job:
    """The rollback job of the incident open for ``release`` on ``target`` (what CI asks
    for): the same rules as from the incident's page. A rollback already queued or running
    is returned with ``already_active`` instead of a second one."""
    incident = Incident.objects.filter(release=release, target=target, state="open").first()
    if incident is None:
        raise IncidentError(
            f"No incident is open for this release on {target.name}: a rollback runs inside "
            "one (runbook §5.2). An SRE opens it in the portal, attaches the rollback plan "
            "and turns maintenance mode on; then roll back."
        )
    active = Job.objects.filter(
        kind=Job.Kind.ROLLBACK, release=release, target=target, state__in=Job.ACTIVE_STATES,
    ).first()  # fmt: skip
    if active is not None:
        active.already_active = True
        return active
    return incident_rollback_start(incident=incident, user=user)


@transaction.atomic
def incident_validate(*, incident: Incident, user: Any) -> list[Job]:
    """Post-rollback validation: the project's check commands (smoke) and the RLS tests."""
    _require(user, incident.project_id)
    incident = _locked(incident)
    jobs = []
    for kind in (Job.Kind.COMMANDS, Job.Kind.RLS):
        job = job_enqueue(
            kind=kind, project=incident.project, release=incident.release,
            target=incident.target, params={"incident_id": incident.pk}, created_by=user,
        )  # fmt: skip
        jobs.append(job)
        what = "already running" if job.already_active else "started"
        _entry(incident, user, E.JOB, f"Validation {what}: {job}", job=job)
    return jobs


@transaction.atomic
def incident_note(*, incident: Incident, user: Any, text: str) -> IncidentEntry:
    """A status update for the incident channel, kept on the timeline."""
    _require(user, incident.project_id)
    incident = _locked(incident)
    text = text.strip()
    if not text:
        raise IncidentError("Write the status update first.")
    return _entry(incident, user, E.STATUS, text)


@transaction.atomic
def incident_close(*, incident: Incident, user: Any, postmortem_url: str) -> Incident:
    """Close the incident: needs maintenance mode off and the postmortem's link."""
    _require(user, incident.project_id)
    incident = _locked(incident)
    url = postmortem_url.strip()
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise IncidentError("Link the postmortem (an http(s) URL) to close the incident.") from None
    if incident.maintenance_mode:
        raise IncidentError("Turn maintenance mode off first: the app is still frozen.")
    active = [e.job for e in incident.entries.select_related("job") if e.job and e.job.is_active]
    if active:
        raise IncidentError(f"{active[0]} is still running: wait for it to end.")
    incident.state = Incident.State.CLOSED
    incident.postmortem_url = url[:500]
    incident.closed_at = timezone.now()
    incident.closed_by_name = actor_of(user).name[:200]
    incident.save(update_fields=["state", "postmortem_url", "closed_at", "closed_by_name"])
    _entry(incident, user, E.CLOSED, f"Closed; postmortem: {url}", data={"postmortem": url})
    notify("incident.closed", incident.release, {"incident": incident.pk, "postmortem": url},
           actor=user)  # fmt: skip
    return incident


def incident_job_finished(*, job: Job) -> None:
    """Inside the job's finishing transaction: the timeline hears of the end; a successful
    rollback moves the release failed → rolled_back."""
    entries = IncidentEntry.objects.filter(job=job, kind=E.JOB).select_related("incident")
    for entry in entries:
        _entry(entry.incident, Actor.system(f"job #{job.pk}"), E.JOB_END,
               f"{job} {job.get_state_display().lower()}: {summary_for_all(job)}", job=job,
               data={"state": job.state})  # fmt: skip
    if job.kind == Job.Kind.ROLLBACK:
        deployment_finish_for_job(job=job)
        if job.state == Job.State.SUCCEEDED and job.release_id:
            _release_rolled_back(job)
    if job.kind == Job.Kind.ROLLBACK and job.release is not None:
        event = "rollback.succeeded" if job.state == Job.State.SUCCEEDED else "rollback.ended"
        notify(event, job.release, {"job": job.pk, "state": job.state, "summary": job.summary},
               actor=Actor.system(f"job #{job.pk}"))  # fmt: skip


def _release_rolled_back(job: Job) -> None:
    release = Release.objects.select_for_update().get(pk=job.release_id or 0)
    release_rolled_back(
        release=release,
        actor=Actor.system(f"job #{job.pk}"),
        reason=f"rollback job #{job.pk} succeeded",
    )
