"""The release gate: may production deploy this release now?

``gate_status`` is a pure selector shared by the release page and the API. The gate is
open when

- the release has migration files (a release of nothing is never approved),
- every checklist item (except the sign-off step) is done or not applicable,
- every evidence-required item's check passed for the release's content as it is now
  (checklists.proof: the latest automated result of each source), or an approved waiver
  for this content lets it past (a tick never does),
- every sign-off the project requires is current (given for the release's digest), so
  the release is approved,
- no freeze window of the project covers the moment,
- the verified production backup that proves the backup step is at most the project's
  ``backup_max_age_hours`` old (runbook §5.1: taken before the production apply),
- and, with the project's "high-risk release requires the SRE's sign-off" setting on, a
  risk result exists for the release's current content (``gate_rule``; a high-risk one
  adds the SRE's sign-off to the required ones);

or when a platform lead broke the glass (an unresolved, unexpired GateOverride given for
exactly the release's current digest, confirmed by a second platform lead where the
project asks for one), which opens it whatever is missing, as long as
the release can still deploy at all. The answer always lists what is missing, so a
break-glass deployment shows what it skipped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from checklists import proof, rules
from checklists.models import (
    ChecklistItem,
    FreezeWindow,
    GateOverride,
    PeerReview,
    Release,
    SignOff,
    Waiver,
)
from checklists.services.errors import ChecklistError
from migrations_ops.analysis import gate_rule
from release_portal.templatetags.portal import utc_time

# States from which a deployment may start: approved, or (break-glass only) any state
# before it, or failed (a second attempt after a failed deployment).
DEPLOYABLE_WITH_OVERRIDE = {*rules.PRE_DEPLOY, Release.State.FAILED}


@dataclass
class GateResult:
    open: bool
    digest: str
    state: str
    missing_items: list[dict[str, Any]] = field(default_factory=list)
    missing_signoffs: list[dict[str, Any]] = field(default_factory=list)
    stale_signoffs: list[dict[str, Any]] = field(default_factory=list)
    freeze: dict[str, Any] | None = None
    override: dict[str, Any] | None = None
    # Why the release's state alone keeps the gate shut ("" when it does not).
    state_problem: str = ""
    peer_review: dict[str, Any] | None = None
    # The risk rule (migrations_ops.analysis.gate_rule): None when the project's setting
    # is off; its ``code`` says what it holds ("risk_result_missing", ...), else None.
    risk: dict[str, Any] | None = None
    # Evidence-required items whose check failed or has no passing result for this content,
    # and no approved waiver: each with its kinds and the failed jobs.
    failed_checks: list[dict[str, Any]] = field(default_factory=list)
    # Approved waivers for this content that let an item past its check.
    waivers: list[dict[str, Any]] = field(default_factory=list)
    has_migrations: bool = True
    # A break-glass override given but not yet confirmed by a second platform lead.
    override_unconfirmed: dict[str, Any] | None = None
    # The backup proving the backup step, when older than the project allows: its file,
    # when it was taken, and the largest age in hours.
    old_backup: dict[str, Any] | None = None

    @property
    def reasons(self) -> list[str]:
        """What keeps the gate shut, in sentences (empty when it is open on its own merits).
        For CI and the change log: the checks are named by step key and evidence kind."""
        return [
            text + (": " + "; ".join(_check_line(c) for c in checks) if checks else "")
            for text, checks in self._reason_parts()
        ]

    @property
    def reason_lines(self) -> list[dict[str, Any]]:
        """The same reasons for a page: each ``text`` (times as "2026-12-05 14:03 UTC"),
        and the ``checks`` (with their item's id and text) where it is about checks."""
        return [{"text": text, "checks": checks} for text, checks in self._reason_parts()]

    def _reason_parts(self) -> list[tuple[str, list[dict[str, Any]]]]:
        out: list[tuple[str, list[dict[str, Any]]]] = []
        if self.state_problem:
            out.append((self.state_problem, []))
        if not self.has_migrations:
            out.append(("the release has no migration files: there is nothing to approve", []))
        if self.failed_checks:
            out.append(
                (
                    f"{len(self.failed_checks)} check(s) failed or have no passing result "
                    "for these migrations",
                    self.failed_checks,
                )
            )
        if self.missing_items:
            out.append((f"{len(self.missing_items)} checklist item(s) are not done", []))
        if self.missing_signoffs:
            kinds = ", ".join(s["label"] for s in self.missing_signoffs)
            out.append((f"sign-off missing: {kinds}", []))
        if self.stale_signoffs:
            kinds = ", ".join(s["label"] for s in self.stale_signoffs)
            out.append((f"sign-off stale, to be given again: {kinds}", []))
        if self.freeze:
            # In words for people and CI logs alike; the body's freeze.ends_at stays ISO.
            until = utc_time(self.freeze["ends_at"]) or "further notice"
            out.append((f"freeze window until {until}: {self.freeze['reason']}", []))
        if self.old_backup:
            old = self.old_backup
            out.append(
                (
                    f"the verified backup {old['file']} was taken at {utc_time(old['taken_at'])}"
                    f", more than {old['max_age_hours']} h ago: this project asks for one at "
                    "most that old before a production deployment (runbook §5.1). Take and "
                    "verify another",
                    [],
                )
            )
        if self.risk and self.risk["code"]:
            out.append((self.risk["message"], []))
        if self.override_unconfirmed:
            # Said here too, not only in its own field: CI logs print the sentences, and
            # whoever broke the glass reads them to see why the gate is still shut.
            given = self.override_unconfirmed
            out.append(
                (
                    f"the break-glass by {given['by']} at {utc_time(given['at'])} is not in "
                    "force yet: a second platform lead confirms it on the release's gate page",
                    [],
                )
            )
        return out

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["reasons"] = self.reasons
        return data


def _check_line(check: dict[str, Any]) -> str:
    if check["status"] == proof.MISSING:
        return f"{check['step']}: missing ({', '.join(check['kinds'])})"
    failed = ", ".join(
        f"{f['kind']}" + (f" job #{f['job']}" if f.get("job") else "") for f in check["failures"]
    )
    return f"{check['step']}: failed ({failed})"


class GateClosed(ChecklistError):
    """Production may not deploy this release now. ``gate`` is the answer that refused it
    (one evaluation per decision: callers show it instead of asking the gate again)."""

    def __init__(self, gate: GateResult, lead: str = "The gate is closed") -> None:
        self.gate = gate
        super().__init__(f"{lead}: " + "; ".join(self.reasons))

    @property
    def reasons(self) -> list[str]:
        return list(self.gate.reasons) or [f"the release is {self.gate.state}"]


def _when(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _override_entry(override: GateOverride) -> dict[str, Any]:
    """What the gate's body says of a break-glass: who, when and why."""
    return {
        "id": override.pk,
        "by": override.created_by.get_username(),
        "at": _when(override.created_at),
        "reason": override.reason,
    }


def active_freeze(project_id: int, at: datetime | None = None) -> FreezeWindow | None:
    at = at or timezone.now()
    return (
        FreezeWindow.objects.filter(project_id=project_id, starts_at__lte=at, ends_at__gt=at)
        .order_by("ends_at")
        .last()
    )


def given_override(release: Release, at: datetime | None = None) -> GateOverride | None:
    """The break-glass override given for the release as it is now (confirmed or not)."""
    at = at or timezone.now()
    return (
        GateOverride.objects.filter(
            release=release, resolved_at__isnull=True, expires_at__gt=at, digest=release.digest
        )
        .select_related("created_by", "confirmed_by")
        .order_by("-created_at")
        .first()
    )


def active_override(release: Release, at: datetime | None = None) -> GateOverride | None:
    """The break-glass override that opens the gate for the release as it is now: given
    for its digest and, where it needs a second platform lead, confirmed."""
    override = given_override(release, at)
    return override if override is not None and _confirmed(override) else None


def _confirmed(override: GateOverride) -> bool:
    return not override.needs_confirmation or override.confirmed_at is not None


def waiver_entry(waiver: Waiver) -> dict[str, Any]:
    return {
        "id": waiver.pk,
        "item": waiver.item_id,
        "step": waiver.item.step.key,
        "text": waiver.item.step.text,
        "kind": waiver.kind,
        "reason": waiver.reason,
        "check": waiver.check_result,
        "asked_by": waiver.asked_by.get_username(),
        "asked_at": _when(waiver.asked_at),
        "approved_by": waiver.approved_by.get_username() if waiver.approved_by else None,
        "approved_at": _when(waiver.approved_at),
        "content_digest": waiver.content_digest,
    }


def _old_backup(release: Release, checks: list[proof.Check], at: datetime) -> dict[str, Any] | None:
    """The passing backup result the backup step's check read, when the backup is older
    than the project's ``backup_max_age_hours`` (0: no limit)."""
    limit = release.project.backup_max_age_hours
    if not limit:
        return None
    for check in checks:
        for result in check.results if check.passed else ():
            taken = _parsed(result.get("taken_at"))
            if taken is not None and at - taken > timedelta(hours=limit):
                return {"file": result["file"], "taken_at": _when(taken), "max_age_hours": limit}
    return None


def _parsed(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _state_problem(release: Release, overridden: bool) -> str:
    if release.state == Release.State.APPROVED:
        return ""
    if overridden and release.state in DEPLOYABLE_WITH_OVERRIDE:
        return ""
    if release.state in rules.PRE_DEPLOY:
        return ""  # explained by the missing items and sign-offs
    return f"the release is {release.get_state_display().lower()}: it cannot start a deployment"


def gate_status(
    release: Release,
    *,
    at: datetime | None = None,
    items: list[ChecklistItem] | None = None,
    signoffs: list[SignOff] | None = None,
    open_overrides: list[GateOverride] | None = None,
    may_have_freeze: bool = True,
    may_have_review: bool = True,
    files_count: int | None = None,
) -> GateResult:
    """The gate's answer for ``release`` now (or at ``at``), in a handful of queries.
    The release page passes what it already read: the items (in step order), the
    sign-offs, the unresolved overrides (open_followups), and whether a freeze window or a
    peer review exists at all (it asked in the release's own query)."""
    at = at or timezone.now()
    # The release page's items carry their evidence and waivers (selectors.release_page).
    page_read = items is not None and files_count is not None
    if items is None:
        items = list(release.items.select_related("step").order_by("step__position"))
    missing_items = [
        {
            "item": i.pk,
            "step": i.step.key,
            "text": i.step.text,
            "section": i.step.section,
            "owner": i.step.owner,
            "owner_label": i.step.get_owner_display(),
            "state": i.state,
        }
        for i in items
        if not i.step.is_signoff and not i.is_settled
    ]
    required = rules.signoff_kinds_required(release)
    if signoffs is None:
        signoffs = list(release.signoffs.select_related("user"))
    by_kind = {s.kind: s for s in signoffs}
    missing_signoffs, stale_signoffs = [], []
    for kind in required:
        label = SignOff.Kind(kind).label
        signoff = by_kind.get(kind)
        if signoff is None:
            who = release.owner.get_username() if kind == SignOff.Kind.RELEASE_OWNER else ""
            missing_signoffs.append({"kind": kind, "label": label, "who": who})
        elif not signoff.is_current:
            stale_signoffs.append(
                {
                    "kind": kind,
                    "label": label,
                    "who": signoff.user.get_username(),
                    "signed_at": _when(signoff.signed_at),
                    "stale_since": _when(signoff.stale_at),
                    "why": signoff.stale_reason,
                }
            )
    if page_read:
        # The release page read the items with their evidence (and its job) and waivers.
        active_waivers = []
        for i in items:
            for w in i.waivers.all():
                w.release, w.item = release, i
                if w.is_active:
                    active_waivers.append(w)
        checks = [c for i in items if (c := proof.check_item(i, release)) is not None]
    else:
        active_waivers = list(
            Waiver.objects.active()
            .filter(release=release)
            .select_related("item__step", "asked_by", "approved_by")
            .order_by("item__step__position", "pk")
        )
        checks = proof.release_checks(release)
    waived = {w.item_id for w in active_waivers}
    failed_checks = [c.as_dict() for c in checks if not c.passed and c.item.pk not in waived]
    has_migrations = (
        bool(files_count) if files_count is not None else release.migration_files.exists()
    )
    freeze = active_freeze(release.project_id, at) if may_have_freeze else None
    if open_overrides is None:
        given = given_override(release, at)
    else:
        given = next(
            (
                o
                for o in sorted(open_overrides, key=lambda o: o.created_at, reverse=True)
                if o.expires_at > at and o.digest == release.digest
            ),
            None,
        )
    override = given if given is not None and _confirmed(given) else None
    state_problem = _state_problem(release, override is not None)
    sre = by_kind.get(SignOff.Kind.SRE)
    risk = gate_rule.evaluate(release, sre_signed=sre is not None and sre.is_current)
    checklist_ok = not (
        missing_items or missing_signoffs or stale_signoffs or failed_checks or not has_migrations
    )
    checklist_ok = checklist_ok and not (risk and risk.code)
    old_backup = _old_backup(release, checks, at)
    on_merit = (
        checklist_ok
        and release.state == Release.State.APPROVED
        and freeze is None
        and old_backup is None
    )
    review = (
        PeerReview.objects.filter(release=release).order_by("-reported_at").first()
        if may_have_review
        else None
    )
    if review is not None:
        review.release = release  # is_current reads the release's content digest
    return GateResult(
        open=on_merit or (override is not None and not state_problem),
        digest=release.digest,
        state=release.state,
        missing_items=missing_items,
        missing_signoffs=missing_signoffs,
        stale_signoffs=stale_signoffs,
        freeze=None
        if freeze is None
        else {
            "id": freeze.pk,
            "starts_at": _when(freeze.starts_at),
            "ends_at": _when(freeze.ends_at),
            "reason": freeze.reason,
        },
        override=None
        if override is None
        else {
            **_override_entry(override),
            "expires_at": _when(override.expires_at),
            "confirmed_by": override.confirmed_by.get_username() if override.confirmed_by else None,
        },
        state_problem=state_problem,
        risk=risk.as_dict() if risk else None,
        failed_checks=failed_checks,
        waivers=[waiver_entry(w) for w in active_waivers],
        has_migrations=has_migrations,
        old_backup=old_backup,
        override_unconfirmed=None
        if given is None or override is not None
        else _override_entry(given),
        peer_review=None
        if review is None
        else {
            "url": review.url,
            "approvals": review.approvals,
            "template_checklist_complete": review.template_checklist_complete,
            "complete": review.is_complete,
            "commit_sha": review.commit_sha,
            "current": review.is_current,
        },
    )


def open_followups(release: Release) -> list[GateOverride]:
    """Break-glass overrides of the release that no lead has resolved yet."""
    return list(
        GateOverride.objects.filter(release=release, resolved_at__isnull=True)
        .select_related("created_by")
        .order_by("created_at")
    )
