"""Deployments and the deploy lock, freeze windows, and break-glass.

Services: keyword-only, one transaction each, audited in it. Locks are taken in the
order every release writer uses: the release row first, then what hangs from it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from checklists import rules
from checklists.deployments import gate as gates
from checklists.deployments.gate import GateClosed
from checklists.models import Deployment, FreezeWindow, GateOverride, Release
from checklists.services.errors import AlreadyDone, ChecklistError, when
from checklists.services.state import release_settle, release_transition, require_seen_digest
from migrations_ops.models import Incident, Target
from release_portal.accounts.access import require_actor
from release_portal.accounts.recheck import PasswordRecheckFailed, password_recheck
from release_portal.accounts.roles import Action, can
from release_portal.audit.services import Actor, actor_of, audit_record
from release_portal.notify import notify

# A break-glass override opens the gate for this long (or until resolved, or until the
# release changes): long enough for an emergency deployment, not a standing exception.
BREAK_GLASS_VALID_FOR = timedelta(hours=4)
S = Release.State


class DigestMismatch(ChecklistError):
    pass


class DeployLocked(ChecklistError):
    """Another deployment or rollback holds the target."""

    def __init__(self, holder: Deployment | None, target: Target) -> None:
        self.holder = holder
        if holder is None:
            text = f"{target.name} is being deployed to right now: try again when it finishes."
        else:
            text = (
                f"{target.name} is locked by {holder.get_kind_display().lower()} #{holder.pk} "
                f"of release #{holder.release_id}, started by {holder.started_by_name} at "
                f"{when(holder.started_at)}: wait until it is reported finished."
            )
        super().__init__(text)


_require = require_actor  # people need the action; tokens and jobs were checked before


def _locked_release(release: Release) -> Release:
    return (
        Release.objects.select_for_update(of=("self",))
        .select_related("project", "owner")
        .get(pk=release.pk)
    )


# --- freeze windows ---------------------------------------------------------------------


@transaction.atomic
def freeze_window_create(
    *, project: Any, starts_at: datetime, ends_at: datetime, reason: str, user: Any
) -> FreezeWindow:
    """A window in which production deployments of ``project`` wait (the gate says 409)."""
    _require(user, Action.MANAGE_PROJECT, project.pk, "Only platform leads set freeze windows.")
    reason = reason.strip()
    if not reason:
        raise ChecklistError("Say why deployments are frozen: the gate shows it to CI.")
    if ends_at <= starts_at:
        raise ChecklistError("A freeze window ends after it starts.")
    if ends_at <= timezone.now():
        raise ChecklistError("That window is already over: give an end in the future.")
    window = FreezeWindow.objects.create(
        project=project, starts_at=starts_at, ends_at=ends_at, reason=reason[:300],
        created_by=user,
    )  # fmt: skip
    audit_record(
        actor=user,
        action="freeze.create",
        obj=window,
        project=project,
        data={"starts_at": starts_at, "ends_at": ends_at, "reason": window.reason},
    )
    return window


@transaction.atomic
def freeze_window_delete(*, window: FreezeWindow, user: Any) -> None:
    """Remove a freeze window (lift it early, or drop a planned one)."""
    _require(user, Action.MANAGE_PROJECT, window.project_id, "Only platform leads lift freezes.")
    audit_record(
        actor=user,
        action="freeze.delete",
        obj=window,
        project=window.project_id,
        data={"starts_at": window.starts_at, "ends_at": window.ends_at, "reason": window.reason},
    )
    window.delete()


# --- break-glass ------------------------------------------------------------------------


def gate_break_glass(
    *, release: Release, user: Any, reason: str, password: str, seen_digest: str
) -> GateOverride:
    """Open the gate for the release's current digest anyway: loud, audited, followed up.

    ``seen_digest`` is the digest the lead's page showed: a release that changed since is
    refused with what changed. Where the project asks for it ("break-glass needs a second
    platform lead", on by default), the override opens the gate only once another
    platform lead confirms it (gate_override_confirm).

    Asks for the password again, with the login's lockout (release_portal.accounts.recheck;
    a refusal is recorded in its own transaction). The
    override stays on the release as an open follow-up until a lead resolves it.
    """
    if not can(user, Action.BREAK_GLASS, release.project_id):
        raise PermissionDenied("Only platform leads may break the glass.")
    if len(reason.strip()) < 10:
        raise ChecklistError("Say why, in a sentence: the reason goes to the change log and out.")
    try:
        password_recheck(
            user=user, password=password, purpose="break_glass", doing="breaking the glass",
            refused_action="gate.break_glass_refused", obj=release,
        )  # fmt: skip
    except PasswordRecheckFailed as e:
        raise ChecklistError(e.messages[0]) from None
    return _break_glass(release=release, user=user, reason=reason.strip(), seen_digest=seen_digest)


@transaction.atomic
def _break_glass(*, release: Release, user: Any, reason: str, seen_digest: str) -> GateOverride:
    release = _locked_release(release)
    require_seen_digest(release, seen_digest, doing="overridden")
    if release.state not in gates.DEPLOYABLE_WITH_OVERRIDE:
        raise ChecklistError(
            f"The release is {release.get_state_display().lower()}: there is no deployment "
            "to open the gate for."
        )
    existing = gates.given_override(release)
    if existing is not None:
        raise AlreadyDone(
            f"The glass is already broken for this release (by {existing.created_by} at "
            f"{when(existing.created_at)}, until {when(existing.expires_at)})."
        )
    gate = gates.gate_status(release)
    if gate.open:
        raise ChecklistError("The gate is already open: there is nothing to override.")
    bypassed = {
        "reasons": gate.reasons,
        "missing_items": [i["step"] for i in gate.missing_items],
        "missing_signoffs": [s["kind"] for s in gate.missing_signoffs],
        "stale_signoffs": [s["kind"] for s in gate.stale_signoffs],
        "freeze": gate.freeze,
        "state": release.state,
    }
    override = GateOverride.objects.create(
        release=release, digest=release.digest, reason=reason, bypassed=bypassed,
        created_by=user, expires_at=timezone.now() + BREAK_GLASS_VALID_FOR,
        needs_confirmation=release.project.break_glass_needs_second_lead,
    )  # fmt: skip
    data = {
        "override": override.pk,
        "reason": reason,
        "digest": release.digest,
        "expires_at": override.expires_at,
        "bypassed": bypassed,
        "needs_confirmation": override.needs_confirmation,
    }
    audit_record(actor=user, action="gate.break_glass", obj=override, release=release, data=data)
    notify("gate.break_glass", release, data, actor=user)
    return override


@transaction.atomic
def gate_override_confirm(*, override: GateOverride, user: Any, seen_digest: str) -> GateOverride:
    """A second platform lead confirms a break-glass override: only then does it open the
    gate (where the project asks for a second lead). For the digest the page showed."""
    release = _locked_release(override.release)
    if not can(user, Action.BREAK_GLASS, release.project_id):
        raise PermissionDenied("Only platform leads confirm a break-glass.")
    override = (
        GateOverride.objects.select_for_update().select_related("created_by").get(pk=override.pk)
    )
    if override.created_by_id == user.pk:
        raise PermissionDenied(
            "A second platform lead confirms a break-glass: not the one who broke the glass."
        )
    if override.confirmed_at is not None:
        raise AlreadyDone(
            f"Already confirmed by {override.confirmed_by} at {when(override.confirmed_at)}."
        )
    if override.resolved_at is not None or override.expires_at <= timezone.now():
        raise ChecklistError(
            "This break-glass is resolved or expired: there is nothing to confirm."
        )
    if override.digest != release.digest:
        raise ChecklistError(
            "The release changed since the glass was broken: this override no longer applies."
        )
    require_seen_digest(release, seen_digest, doing="confirmed")
    override.confirmed_by = user
    override.confirmed_at = timezone.now()
    override.save(update_fields=["confirmed_by", "confirmed_at"])
    data = {"override": override.pk, "by": override.created_by.get_username(),
            "reason": override.reason, "digest": release.digest}  # fmt: skip
    audit_record(
        actor=user, action="gate.break_glass_confirmed", obj=override, release=release, data=data
    )
    return override


@transaction.atomic
def gate_override_resolve(*, override: GateOverride, user: Any, note: str) -> GateOverride:
    """Close a break-glass follow-up with what was checked afterwards; it stops opening the gate."""
    release = _locked_release(override.release)
    if not can(user, Action.BREAK_GLASS, release.project_id):
        raise PermissionDenied("Only platform leads resolve break-glass follow-ups.")
    note = note.strip()
    if not note:
        raise ChecklistError("Write what was checked after the break-glass: it is the follow-up.")
    override = GateOverride.objects.select_for_update().get(pk=override.pk)
    if override.resolved_at is not None:
        raise AlreadyDone(
            f"Already resolved by {override.resolved_by} at {when(override.resolved_at)}."
        )
    override.resolved_at = timezone.now()
    override.resolved_by = user
    override.resolution_note = note[:5000]
    override.save(update_fields=["resolved_at", "resolved_by", "resolution_note"])
    data = {"override": override.pk, "note": override.resolution_note}
    audit_record(
        actor=user, action="gate.break_glass_resolved", obj=override, release=release, data=data
    )
    notify("gate.break_glass_resolved", release, data, actor=user)
    return override


# --- deployments ------------------------------------------------------------------------


def _move(release: Release, to: str, actor: Any, reason: str, *, forced_by: Any = None) -> None:
    """Along the state machine; a break-glass start may leave a pre-approval state."""
    forced = forced_by if not rules.can_transition(release.state, to) else None
    release_transition(release=release, to=to, actor=actor, reason=reason, break_glass=forced)


def _require_rollback_incident(release: Release, target: Target) -> None:
    """A rollback runs inside an incident (runbook §5.2): one open for the release on the
    target, with maintenance mode on so that writes are frozen first."""
    incident = (
        Incident.objects.filter(release=release, target=target, state=Incident.State.OPEN)
        .only("pk", "maintenance_mode")
        .first()
    )
    if incident is None:
        raise ChecklistError(
            f"No incident is open for this release on {target.name}: a rollback runs inside "
            "one (runbook §5.2). An SRE opens it in the portal, attaches the rollback plan "
            "and turns maintenance mode on; then roll back."
        )
    if not incident.maintenance_mode:
        raise ChecklistError(
            f"Incident #{incident.pk}: turn maintenance mode on first: writes must be frozen "
            "before a rollback (runbook §5.2 step 1)."
        )


@transaction.atomic
def deployment_start(
    *,
    release: Release,
    target: Target,
    actor: Any,
    digest: str = "",
    kind: str = Deployment.Kind.DEPLOY,
    run_url: str = "",
) -> Deployment:
    """Record that a deployment (or rollback) of ``release`` to ``target`` started.

    Production deployments need the gate open for exactly ``digest``. A rollback follows
    the rollback job's rules wherever it is recorded from (the job, CI): the rollback
    permission, and an open incident for the release on the target with maintenance mode
    on. The target's deploy lock (one started deployment per target, a database
    constraint) refuses a second start with DeployLocked. Moves the release to deploying
    for production.
    """
    release = _locked_release(release)
    if target.project_id != release.project_id:
        raise ChecklistError(f"The target {target.name} belongs to another project.")
    if kind == Deployment.Kind.ROLLBACK:
        _require(actor, Action.MANAGE_ROLLBACKS, release.project_id,
                 "Only SREs and platform leads roll back.")  # fmt: skip
        _require_rollback_incident(release, target)
    else:
        _require(actor, Action.DEPLOY, release.project_id, "Your roles do not allow deployments.")
    production_deploy = target.kind == Target.Kind.PRODUCTION and kind == Deployment.Kind.DEPLOY
    override = None
    if production_deploy:
        gate = gates.gate_status(release)
        if not gate.open:
            raise GateClosed(gate)
        if digest != release.digest:
            raise DigestMismatch(
                f"The gate is open for digest {release.digest}, not {digest[:64] or 'none'}: "
                "ask the gate again and deploy exactly what it approved."
            )
        override = GateOverride.objects.get(pk=gate.override["id"]) if gate.override else None
    who = actor_of(actor)
    try:
        with transaction.atomic():
            deployment = Deployment.objects.create(
                release=release, target=target, kind=kind, digest=release.digest,
                override=override, run_url=run_url, started_by_name=who.name,
                release_state_before=release.state,
            )  # fmt: skip
    except IntegrityError:
        holder = (
            Deployment.objects.filter(target=target, status=Deployment.Status.STARTED)
            .order_by("-started_at")
            .first()
        )
        raise DeployLocked(holder, target) from None
    audit_record(
        actor=actor,
        action="deployment.start",
        obj=deployment,
        release=release,
        data={
            "target": target.name,
            "target_kind": target.kind,
            "kind": kind,
            "digest": release.digest,
            "break_glass": getattr(override, "pk", None),
            "run_url": run_url,
        },
    )
    if production_deploy:
        _move(release, S.DEPLOYING, actor, f"deployment #{deployment.pk} started",
              forced_by=override)  # fmt: skip
    return deployment


INCIDENT_HINT = (
    "The deployment failed: an SRE can open an incident for this release and follow the "
    "runbook's §5.2 rollback (maintenance mode, down scripts or restore from the backup)."
)


@transaction.atomic
def deployment_finish(
    *, deployment: Deployment, actor: Any, status: str, log_url: str = "", held: str = ""
) -> Deployment:
    """Record the outcome; frees the target's lock; moves a production release on.

    A production deployment that succeeded moves the release to monitoring (runbook §2:
    30 minutes of post-deploy monitoring); one that failed moves it to failed and
    notifies. ``held`` (failed, with why): it was refused before it touched production
    (a freeze window began while it was queued), so the release is approved again and the
    notice says nothing was applied. Reporting the same outcome twice is refused with
    AlreadyDone.
    """
    release = _locked_release(deployment.release)
    _require(actor, Action.DEPLOY, release.project_id, "Your roles do not allow deployments.")
    deployment = (
        Deployment.objects.select_for_update(of=("self",))
        .select_related("target")
        .get(pk=deployment.pk)
    )
    if status not in (Deployment.Status.SUCCEEDED, Deployment.Status.FAILED):
        raise ChecklistError("A deployment finishes as succeeded or failed.")
    if deployment.status != Deployment.Status.STARTED:
        text = f"Deployment #{deployment.pk} already finished as {deployment.status}."
        if deployment.status == status:
            raise AlreadyDone(text)
        raise ChecklistError(text)
    who = actor_of(actor)
    deployment.status = status
    deployment.log_url = log_url or deployment.log_url
    deployment.finished_at = timezone.now()
    deployment.finished_by_name = who.name
    deployment.save(update_fields=["status", "log_url", "finished_at", "finished_by_name"])
    data = {
        "target": deployment.target.name,
        "kind": deployment.kind,
        "status": status,
        "log_url": deployment.log_url,
    }
    if held:
        data["held"] = held
    audit_record(
        actor=actor, action="deployment.finish", obj=deployment, release=release, data=data
    )
    production = deployment.target.kind == Target.Kind.PRODUCTION
    if production and deployment.kind == Deployment.Kind.DEPLOY and release.state == S.DEPLOYING:
        to = S.MONITORING if status == Deployment.Status.SUCCEEDED else S.FAILED
        if held and status == Deployment.Status.FAILED:
            to = S.APPROVED
        release_transition(
            release=release, to=to, actor=actor, reason=f"deployment #{deployment.pk} {status}"
        )
        if to == S.APPROVED:
            # Started through a break-glass before approval: back where the facts put it.
            release_settle(release=release, actor=actor)
        if to == S.MONITORING:
            # The runbook's 30 minutes of post-deploy monitoring start now (a repeat call,
            # e.g. from the apply job's own end, returns the running window).
            from migrations_ops.monitoring.services import monitoring_start

            monitoring_start(release=release, target=deployment.target, user=actor)
    if (
        production
        and deployment.kind == Deployment.Kind.ROLLBACK
        and status == Deployment.Status.SUCCEEDED
        and rules.can_transition(release.state, S.ROLLED_BACK)
    ):
        release_rolled_back(release=release, actor=actor, reason=f"rollback #{deployment.pk}")
    if status == Deployment.Status.FAILED:
        hint = f"nothing was applied: {held}" if held else INCIDENT_HINT
        notify(f"{deployment.kind}.failed", release, {**data, "hint": hint}, actor=actor)
    return deployment


def deployment_finish_for_job(*, job: Any) -> Deployment | None:
    """The deployment a job holds (an apply or rollback job's ``params.deployment_id``)
    finishes as the job did, freeing the target's deploy lock; the one way a job ends its
    deployment. Runs inside the job's finishing transaction. None when there is none or
    it was reported finished already (by CI or a person)."""
    deployment_id = (job.params or {}).get("deployment_id")
    if not deployment_id:
        return None
    deployment = Deployment.objects.filter(
        pk=int(deployment_id), status=Deployment.Status.STARTED
    ).first()
    if deployment is None:
        return None
    ok = job.state == "succeeded"
    return deployment_finish(
        deployment=deployment,
        actor=Actor.system(f"job #{job.pk}"),
        status=Deployment.Status.SUCCEEDED if ok else Deployment.Status.FAILED,
        held="" if ok else str((job.result or {}).get("held") or ""),
    )


def release_rolled_back(*, release: Release, actor: Any, reason: str) -> None:
    """The one way a release is marked rolled back: a deployment that was under way (or
    being monitored) failed first, then rolled_back where the state machine allows it.
    Call it with the release locked, in the transaction of the rollback's end."""
    if release.state in (S.DEPLOYING, S.MONITORING):
        release_transition(release=release, to=S.FAILED, actor=actor, reason=reason)
    if rules.can_transition(release.state, S.ROLLED_BACK):
        release_transition(release=release, to=S.ROLLED_BACK, actor=actor, reason=reason)
