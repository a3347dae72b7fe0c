"""Waivers: the one way past a failed or missing check of an evidence-required item.

A person who answers for the item asks, with a reason, for the content as it is now; a
second person approves (a platform lead other than the asker; where the project has a
single platform lead, the release owner): checklists.rules.can_approve_waiver. The
approval settles the item (done, or not applicable for a "not applicable" waiver); a
revocation reopens it; new content makes it stale (checklists.services.state). Every
step is in the change log, written in the transaction that makes it. Asking and
approving carry the release digest the person's page showed: a release that changed
since is refused with what changed. Auditors never ask, approve or revoke.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from checklists import proof, rules
from checklists.models import ChecklistItem, Evidence, Release, Waiver
from checklists.services.errors import AlreadyDone, ChecklistError, when
from checklists.services.items import _change, _check_open, _locked
from checklists.services.state import require_seen_digest
from release_portal.accounts.roles import Role, roles_in
from release_portal.audit.services import audit_record

MIN_REASON = 10


def _waiver_data(waiver: Waiver) -> dict[str, Any]:
    return {
        "waiver": waiver.pk,
        "step": waiver.item.step.key,
        "kind": waiver.kind,
        "reason": waiver.reason,
        "content_digest": waiver.content_digest,
        "check": waiver.check_result,
        "asked_by": waiver.asked_by.get_username(),
    }


def _refuse_auditor(user: Any, release: Release, doing: str) -> None:
    roles = roles_in(user, release.project_id)
    if not roles or roles == {Role.AUDITOR}:
        raise PermissionDenied(f"Auditors change nothing: they do not {doing} waivers.")


@transaction.atomic
def waiver_ask(
    *, item: ChecklistItem, user: Any, reason: str, seen_digest: str,
    kind: str = Waiver.Kind.CHECK,
) -> Waiver:  # fmt: skip
    """Ask for a waiver of ``item``'s check (or to mark it not applicable) for the
    release's content as it is now. Nothing changes until a second person approves."""
    item = _locked(item)
    release = item.release
    _refuse_auditor(user, release, "ask for")
    if not rules.can_tick(user, item):
        raise PermissionDenied(
            f"Only the {item.step.get_owner_display()} (or a platform lead) asks for a waiver "
            "of this item."
        )
    _check_open(item)
    if kind not in Waiver.Kind.values:
        raise ChecklistError(f"Unknown waiver {kind!r}.")
    if item.step.is_signoff or not item.step.requires_evidence:
        raise ChecklistError(
            "This item needs no evidence: tick it or mark it not applicable, no waiver needed."
        )
    require_seen_digest(release, seen_digest, doing="asked")
    reason = reason.strip()
    if len(reason) < MIN_REASON:
        raise ChecklistError(
            "Say why, in a sentence: the reason goes to the change log, the gate and the report."
        )
    check = proof.check_item(item, release)
    assert check is not None
    if kind == Waiver.Kind.CHECK and check.passed:
        raise ChecklistError("The check passed for these migrations: tick the item instead.")
    active = Waiver.objects.active().filter(item=item).select_related("approved_by").first()
    if active is not None:
        raise AlreadyDone(
            f"Already waived (#{active.pk}, approved by {active.approved_by} at "
            f"{when(active.approved_at)})."
        )
    try:
        with transaction.atomic():
            waiver = Waiver.objects.create(
                release=release, item=item, kind=kind, reason=reason[:5000],
                content_digest=release.content_digest, release_digest=release.digest,
                check_result={"status": check.status, "failures": check.failures},
                asked_by=user,
            )  # fmt: skip
    except IntegrityError:
        pending = Waiver.objects.pending().filter(item=item).select_related("asked_by").first()
        who = pending.asked_by if pending else "someone"
        at = when(pending.asked_at) if pending else "an earlier time"
        raise AlreadyDone(
            f"A waiver of this item is already asked for (by {who} at {at})."
        ) from None
    data = _waiver_data(waiver)
    audit_record(actor=user, action="waiver.ask", obj=waiver, release=release, data=data)
    return waiver


def _locked_waiver(waiver: Waiver) -> tuple[Release, Waiver]:
    # The lock order of every release writer: the release, then what hangs from it.
    release = (
        Release.objects.select_for_update(of=("self",))
        .select_related("project", "owner")
        .get(pk=waiver.release_id)
    )
    waiver = (
        Waiver.objects.select_for_update(of=("self",))
        .select_related("item", "item__step", "asked_by", "approved_by", "revoked_by")
        .get(pk=waiver.pk)
    )
    waiver.release = release
    waiver.item.release = release
    return release, waiver


@transaction.atomic
def waiver_approve(*, waiver: Waiver, user: Any, seen_digest: str) -> Waiver:
    """The second person's approval: the item is settled for this content digest."""
    release, waiver = _locked_waiver(waiver)
    _refuse_auditor(user, release, "approve")
    if user.pk == waiver.asked_by_id:
        raise PermissionDenied(
            "A waiver needs a second person: someone other than you approves the one you asked for."
        )
    if not rules.can_approve_waiver(user, release, waiver.asked_by_id):
        raise PermissionDenied(
            "A platform lead other than the one asking approves a waiver (where the project "
            "has a single platform lead, the release owner)."
        )
    if release.state not in rules.OPEN_FOR_CHANGES:
        raise ChecklistError(
            f"The release is {release.get_state_display().lower()}: its checklist is closed."
        )
    state = waiver.state
    if state == "approved":
        raise AlreadyDone(
            f"Already approved by {waiver.approved_by} at {when(waiver.approved_at)}."
        )
    if state == "revoked":
        raise ChecklistError(
            f"This waiver was withdrawn by {waiver.revoked_by}: nothing to approve."
        )
    if state == "stale":
        raise ChecklistError(
            "This waiver was asked for other migrations: the files changed since. Run the "
            "checks for these files, or ask again."
        )
    require_seen_digest(release, seen_digest, doing="approved")
    waiver.approved_by = user
    waiver.approved_at = timezone.now()
    waiver.save(update_fields=["approved_by", "approved_at"])
    data = _waiver_data(waiver) | {"approved_by": user.get_username()}
    audit_record(actor=user, action="waiver.approve", obj=waiver, release=release, data=data)
    item = _locked(waiver.item)
    if not item.is_settled or waiver.kind == Waiver.Kind.NOT_APPLICABLE:
        not_applicable = waiver.kind == Waiver.Kind.NOT_APPLICABLE
        _change(
            item, user=user,
            to=ChecklistItem.State.NOT_APPLICABLE if not_applicable else ChecklistItem.State.DONE,
            note=f"waiver #{waiver.pk} (asked by {waiver.asked_by}): {waiver.reason}",
            action="item.not_applicable" if not_applicable else "item.tick",
            note_key="reason" if not_applicable else "comment",
            said="waived",
        )  # fmt: skip
    return waiver


@transaction.atomic
def waiver_revoke(*, waiver: Waiver, user: Any, reason: str) -> Waiver:
    """Withdraw a waiver (asked or approved): an approved one stops settling its item,
    which reopens. The asker or a platform lead withdraws."""
    release, waiver = _locked_waiver(waiver)
    _refuse_auditor(user, release, "withdraw")
    if user.pk != waiver.asked_by_id and Role.PLATFORM_LEAD not in roles_in(
        user, release.project_id
    ):
        raise PermissionDenied("The person who asked, or a platform lead, withdraws a waiver.")
    if waiver.revoked_at is not None:
        raise AlreadyDone(f"Already withdrawn by {waiver.revoked_by} at {when(waiver.revoked_at)}.")
    reason = reason.strip()
    if not reason:
        raise ChecklistError("Say why the waiver is withdrawn: it goes into the change log.")
    was_approved = waiver.approved_at is not None
    waiver.revoked_by = user
    waiver.revoked_at = timezone.now()
    waiver.revoke_reason = reason[:5000]
    waiver.save(update_fields=["revoked_by", "revoked_at", "revoke_reason"])
    data = _waiver_data(waiver) | {"why": waiver.revoke_reason, "was_approved": was_approved}
    audit_record(actor=user, action="waiver.revoke", obj=waiver, release=release, data=data)
    if was_approved and release.state in rules.OPEN_FOR_CHANGES:
        item = _locked(waiver.item)
        if item.is_settled and not (proof.check_item(item) or proof.Check(item, "")).passed:
            _change(
                item, user=user, to=ChecklistItem.State.OPEN,
                note=f"waiver #{waiver.pk} withdrawn: {waiver.revoke_reason}",
                action="item.untick", note_key="reason", said="reopened",
            )  # fmt: skip
    return waiver


def waivers_end_on_failure(*, item: ChecklistItem, evidence: Evidence, actor: Any) -> None:
    """A check waiver waives the failures it was asked over (its ``check_result``): a
    failure of a source it did not see failing (any failure, when it was asked over a
    missing result) ends it, and the item it settled reopens. Runbook §4: a failed staging
    apply or RLS suite blocks production; a waiver of a result that had not come yet is no
    waiver of the failure that came.

    Called by ``evidence_add`` in the caller's transaction, the release locked; the
    caller refreshes the release (its digest, sign-offs and state) as for any evidence."""
    release = item.release
    if evidence.status != Evidence.Status.FAILED or evidence.digest != release.content_digest:
        return
    if release.state not in rules.OPEN_FOR_CHANGES:
        return  # a deployment under way keeps the checklist it started with
    source = proof.source_of(evidence)
    ended = (
        Waiver.objects.active()
        .filter(item=item, kind=Waiver.Kind.CHECK)
        .select_for_update(of=("self",))
        .select_related("item__step", "asked_by", "approved_by")
    )
    for waiver in ended:
        seen = {f.get("kind") for f in (waiver.check_result or {}).get("failures", [])}
        if source in seen:
            continue  # the same check failing again: the failure it waived
        waived = ", ".join(sorted(seen)) + " failing" if seen else "a missing result"
        waiver.revoked_at = timezone.now()
        waiver.revoke_reason = (
            f"{source} failed after the waiver was approved ({evidence.summary[:200]}); it "
            f"waived {waived}, not this failure: fix it, or ask again if it still applies"
        )
        waiver.save(update_fields=["revoked_at", "revoke_reason"])
        waiver.release = release
        data = _waiver_data(waiver) | {"why": waiver.revoke_reason, "was_approved": True}
        audit_record(actor=actor, action="waiver.revoke", obj=waiver, release=release, data=data)
        _reopen(item, actor, f"waiver #{waiver.pk} ended: {waiver.revoke_reason}")


def _reopen(item: ChecklistItem, actor: Any, reason: str) -> None:
    """The item a waiver settled is open again (the caller refreshes the release)."""
    if not item.is_settled:
        return
    before = item.state
    item.state = ChecklistItem.State.OPEN
    item.done_by, item.done_at = None, None
    item.comment = reason[:5000]
    item.revision += 1
    item.save(update_fields=["state", "done_by", "done_at", "comment", "revision", "updated_at"])
    audit_record(
        actor=actor, action="item.untick", obj=item, release=item.release,
        data={"step": item.step.key, "from": before, "to": item.state, "reason": item.comment},
    )  # fmt: skip
