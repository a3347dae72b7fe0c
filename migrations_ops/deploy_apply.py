"""Starting an apply job: the one way an ``apply`` job reaches a production database.

``apply_start`` checks the release gate when the job is queued (production only) and
records the digest the gate approved in the job's parameters; the ``apply`` runner
refuses production unless that digest still equals the release's digest when it runs
(``migrations_ops.runners.apply.check_production_guard``). Staging needs no gate.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from checklists.gate import GateResult, gate_status
from checklists.models import Release
from migrations_ops.jobs.services import job_enqueue
from migrations_ops.models import Job, Target
from release_portal.accounts.roles import Action, can
from release_portal.audit.services import actor_of, audit_record, audit_record_now


class GateClosedForApply(ValidationError):
    """Production may not be applied to: the release gate is closed."""

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = reasons
        super().__init__(
            "The release gate is closed, so production is not applied to: "
            + "; ".join(reasons or ["the release is not approved"])
        )


def _gate_reasons(gate: GateResult) -> list[str]:
    return list(gate.reasons) or [f"the release is {gate.state}"]


def apply_start(*, release: Any, target: Target, user: Any, include_all: bool = False) -> Job:
    """Queue an ``apply`` job of ``release`` against ``target``.

    Production: refused with GateClosedForApply unless the gate is open (the refusal is
    audited); the approved digest and the time of the check go into the job's
    parameters. A person needs the DEPLOY permission (an API token's scope is checked by
    the API). Returns the queued job, or the one already queued or running
    (``already_active``).
    """
    try:
        return _apply_start(release=release, target=target, user=user, include_all=include_all)
    except GateClosedForApply as refused:
        audit_record_now(
            actor=user,
            action="apply.refused",
            obj=release,
            data={"target": target.name, "reasons": refused.reasons},
        )
        raise


@transaction.atomic
def _apply_start(*, release: Any, target: Target, user: Any, include_all: bool) -> Job:
    who = actor_of(user)
    if who.kind == "user" and not can(user, Action.DEPLOY, release.project_id):
        raise PermissionDenied("Your roles do not allow applying migrations.")
    release = Release.objects.select_for_update(of=("self",)).get(pk=release.pk)
    if target.project_id != release.project_id:
        raise ValidationError(f"The target {target.name} belongs to another project.")
    params: dict[str, Any] = {"include_all": bool(include_all)}
    production = target.kind == Target.Kind.PRODUCTION
    if production:
        gate = gate_status(release)
        if not gate.open:
            raise GateClosedForApply(_gate_reasons(gate))
        if gate.digest != release.digest:
            raise ValidationError(
                "The gate answered for another version of the release: ask again."
            )
        params |= {
            "gate_checked": True,
            "approved_digest": gate.digest,
            "gate_checked_at": timezone.now().isoformat(),
            # A break-glass override opened it: say so in the job and its audit event.
            "break_glass": (gate.override or {}).get("id"),
        }
    job = job_enqueue(
        kind=Job.Kind.APPLY,
        project=release.project,
        release=release,
        target=target,
        params=params,
        created_by=user,
    )
    if not job.already_active:
        audit_record(
            actor=user,
            action="apply.start",
            obj=release,
            data={
                "job": job.pk,
                "target": target.name,
                "target_kind": target.kind,
                "approved_digest": params.get("approved_digest", ""),
                "include_all": bool(include_all),
                "break_glass": params.get("break_glass"),
            },
        )
    return job
