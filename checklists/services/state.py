"""A release's digests, what goes stale when they change, and its state.

``release_refresh`` is called inside the transaction of every change that may alter the
release (a tick, new evidence, new files, a sign-off); ``release_transition`` is the one
audited way a release changes state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from checklists import digest, rules
from checklists.models import (
    SETTLED_STATES,
    ChecklistItem,
    Release,
    ReleaseContentSnapshot,
    ReleaseDigestSnapshot,
    Waiver,
)
from checklists.services.errors import ChangedSinceOpened, ChecklistError
from release_portal.audit.services import audit_record
from release_portal.webhooks import events


def refresh_digests(release: Release) -> dict[str, Any]:
    snapshot = digest.release_snapshot(release)
    release.content_digest = snapshot["content_digest"]
    release.digest = digest.digest_of_snapshot(snapshot)
    return snapshot


def keep_digest_snapshot(release: Release, snapshot: dict[str, Any]) -> None:
    """Remember what this digest covered, so a form carrying it can be told what changed:
    the checklist part with the digest, the files once per content digest (left out of
    ``snapshot`` when the files did not change: they are kept already). One INSERT each,
    nothing read back."""
    content = release.content_digest
    if "files" in snapshot:
        parts = {k: v for k, v in snapshot.items() if k != "items"}
        ReleaseContentSnapshot.objects.bulk_create(
            [ReleaseContentSnapshot(release=release, content_digest=content, snapshot=parts)],
            ignore_conflicts=True,
        )
    ReleaseDigestSnapshot.objects.bulk_create(
        [
            ReleaseDigestSnapshot(
                release=release,
                digest=release.digest,
                content_digest=content,
                snapshot={"content_digest": content, "items": snapshot["items"]},
            )
        ],
        ignore_conflicts=True,
    )


def kept_snapshot(release: Release, release_digest: str) -> dict[str, Any] | None:
    """The whole snapshot kept for ``release_digest`` (its files and its checklist), or
    None when it was never kept."""
    row = (
        ReleaseDigestSnapshot.objects.filter(release=release, digest=release_digest)
        .values_list("content_digest", "snapshot")
        .first()
    )
    if row is None:
        return None
    content = (
        ReleaseContentSnapshot.objects.filter(release=release, content_digest=row[0])
        .values_list("snapshot", flat=True)
        .first()
    )
    return None if content is None else {**content, **row[1]}


def require_seen_digest(release: Release, seen_digest: str, *, doing: str) -> None:
    """Refuse when the release digest is not ``seen_digest``, the one the person's page
    showed: they would approve something they never saw. Call with the release locked."""
    seen = (seen_digest or "").strip()
    if seen == release.digest:
        return
    before = kept_snapshot(release, seen) if seen else None
    if before is None:
        changes: dict[str, list[str]] = {"commit": [], "files": [], "checklist": []}
        lines = ["the release is not at the digest your page showed"]
    else:
        changes = digest.snapshot_changes(before, digest.release_snapshot(release))
        lines = changes["commit"] + changes["files"] + changes["checklist"] or [
            "the checklist changed"
        ]
    shown = "; ".join(lines[:8]) + (f"; and {len(lines) - 8} more" if len(lines) > 8 else "")
    raise ChangedSinceOpened(
        f"Nothing was {doing}: the release changed since you opened the page ({shown}). "
        "Reload it, look at what changed, and try again.",
        changes,
    )


@dataclass
class Refresh:
    digest_changed: bool
    content_changed: bool
    stale_signoffs: int
    stale_items: int


def release_refresh(
    *, release: Release, actor: Any, reason: str, files_changed: bool = True
) -> Refresh:
    """Recompute digests; mark sign-offs and outdated items stale; move the state.

    Must be called inside the transaction of the change that may have altered the
    release (a tick, new evidence, new files), with the release locked. Writes audit
    events for what went stale.

    ``files_changed=False`` is for changes that cannot touch the content (a tick, an
    untick): the content digest is kept and only the checklist part is read again, in
    one query; the release digest still covers both, so sign-offs go stale all the same.
    """
    old_content, old_digest = release.content_digest, release.digest
    checklist: digest.Checklist | None = None
    if files_changed:
        snapshot = refresh_digests(release)
    else:
        checklist = digest.checklist_snapshot(release)
        snapshot = {"content_digest": old_content, "items": checklist.items}
        release.digest = digest.release_digest(old_content, checklist.items)
    stale_items = 0
    if release.content_digest != old_content:
        stale_items += _stale_waived_items(release, actor)
        # Items ticked on evidence produced for other files are no longer proven.
        outdated = (
            ChecklistItem.objects.filter(release=release, state=ChecklistItem.State.DONE)
            .filter(evidence__digest__gt="")
            .exclude(evidence__digest=release.content_digest)
            .distinct()
        )
        stale_items += _mark_stale(
            outdated.select_related("step"), release, actor, "its evidence was for other migrations"
        )
        if stale_items:
            snapshot = refresh_digests(release)
    stale_signoffs = 0
    if release.digest != old_digest:
        # A release locked by checklists.services.items._locked knows whether any sign-off
        # is not stale yet (read with the lock): when none is, there is nothing to read.
        live = (
            release.signoffs.filter(stale_at__isnull=True).select_related("user")
            if getattr(release, "has_live_signoffs", True)
            else ()
        )
        stale_signoffs = mark_signoffs_stale(live, release=release, actor=actor, reason=reason)
        if checklist is None or (ChecklistItem.State.DONE, True) in checklist.states:
            _reopen_signoff_items(release)
            checklist = None  # the sign-off step's state changed
    release.save(update_fields=["content_digest", "digest", "updated_at"])
    if release.digest != old_digest:
        keep_digest_snapshot(release, snapshot)
    _move_state(release, actor, checklist.states if checklist is not None else None)
    return Refresh(
        release.digest != old_digest,
        release.content_digest != old_content,
        stale_signoffs,
        stale_items,
    )


def mark_signoffs_stale(signoffs: Any, *, release: Release, actor: Any, reason: str) -> int:
    """Mark ``signoffs`` (of ``release``, with their users) stale for ``reason``, each
    audited and announced to the webhooks; returns how many."""
    now = timezone.now()
    count = 0
    for signoff in signoffs:
        signoff.stale_at = now
        signoff.stale_reason = reason[:300]
        signoff.save(update_fields=["stale_at", "stale_reason"])
        audit_record(
            actor=actor,
            action="signoff.stale",
            obj=signoff,
            release=release,
            data={"user": signoff.user.get_username(), "kind": signoff.kind, "why": reason},
        )
        events.signoff_stale(signoff=signoff, reason=reason, actor=actor)
        count += 1
    return count


def withdraw_signoffs(signoffs: Any, *, release: Release, actor: Any, reason: str) -> int:
    """Make ``signoffs`` stale for a change the digest does not cover (the release's owner
    changed): the sign-off step opens again and the release's state follows; returns how
    many went stale."""
    count = mark_signoffs_stale(signoffs, release=release, actor=actor, reason=reason)
    if count:
        _reopen_signoff_items(release)
        _move_state(release, actor)
    return count


def _stale_waived_items(release: Release, actor: Any) -> int:
    """Items settled by a waiver for other content are no longer settled: a waiver is for
    one content digest."""
    waived = (
        ChecklistItem.objects.filter(
            release=release,
            state__in=[ChecklistItem.State.DONE, ChecklistItem.State.NOT_APPLICABLE],
        )
        .filter(waivers__approved_at__isnull=False, waivers__revoked_at__isnull=True)
        .exclude(
            waivers__in=Waiver.objects.filter(
                release=release, approved_at__isnull=False, revoked_at__isnull=True,
                content_digest=release.content_digest,
            )
        )
        .distinct()
        .select_related("step")
    )  # fmt: skip
    return _mark_stale(waived, release, actor, "its waiver was for other migrations")


def _mark_stale(items: Any, release: Release, actor: Any, reason: str) -> int:
    """Make each of ``items`` stale, each in the change log with ``reason``; how many."""
    count = 0
    for item in items:
        item.state = ChecklistItem.State.STALE
        item.revision += 1
        item.save(update_fields=["state", "revision", "updated_at"])
        audit_record(
            actor=actor,
            action="item.stale",
            obj=item,
            release=release,
            data={"step": item.step.key, "reason": reason},
        )
        count += 1
    return count


def _reopen_signoff_items(release: Release) -> None:
    """A stale sign-off leaves the sign-off step open again."""
    for item in release.items.filter(step__is_signoff=True, state=ChecklistItem.State.DONE):
        item.state = ChecklistItem.State.STALE
        item.revision += 1
        item.save(update_fields=["state", "revision", "updated_at"])


def _derived_state(release: Release, states: list[tuple[str, bool]] | None = None) -> str:
    """The state the checklist and sign-offs call for; ``states`` are the items' (state,
    is it the sign-off step) when the caller has just read them."""
    if states is None:
        states = [(i.state, i.step.is_signoff) for i in release.items.select_related("step")]
    checklist = [state for state, is_signoff in states if not is_signoff]
    if checklist and all(state in SETTLED_STATES for state in checklist):
        required = rules.signoff_kinds_required(release)
        current = set(release.signoffs.current().values_list("kind", flat=True))
        approved = set(required) <= current and release.migration_files.exists()
        return Release.State.APPROVED if approved else Release.State.READY
    active = (
        any(state != ChecklistItem.State.OPEN for state, _ in states)
        or release.migrations_source != ""
        or release.jobs.exists()
    )
    return Release.State.PREFLIGHT if active else Release.State.DRAFT


def release_settle(*, release: Release, actor: Any) -> None:
    """Move a release before deployment to the state its checklist and sign-offs call for
    (a deployment held before it started hands it back here)."""
    _move_state(release, actor)


def _move_state(release: Release, actor: Any, states: list[tuple[str, bool]] | None = None) -> None:
    if release.state not in rules.PRE_DEPLOY:
        return
    target = _derived_state(release, states)
    if target != release.state:
        release_transition(release=release, to=target, actor=actor, reason="checklist changed")


def release_transition(
    *, release: Release, to: str, actor: Any, reason: str = "", break_glass: Any = None
) -> None:
    """Move the release along an allowed edge of rules.TRANSITIONS, audited.

    ``break_glass`` (a GateOverride) lets a deployment start from a state before approval,
    off the edges; the event names it.
    """
    if release.state == to:
        return
    if not rules.can_transition(release.state, to) and break_glass is None:
        raise ChecklistError(
            f"A release cannot go from {release.get_state_display()} to {Release.State(to).label}."
        )
    before = release.state
    release.state = to
    release.save(update_fields=["state", "updated_at"])
    data = {"from": before, "to": to, "reason": reason}
    if break_glass is not None:
        data["break_glass"] = break_glass.pk
    audit_record(actor=actor, action="release.state", obj=release, data=data)
    if to == Release.State.APPROVED:
        events.release_approved(release=release, actor=actor)
