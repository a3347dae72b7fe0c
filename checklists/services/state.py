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
from checklists.models import ChecklistItem, Release, ReleaseDigestSnapshot, Waiver
from checklists.services.errors import ChangedSinceOpened, ChecklistError
from release_portal.audit.services import audit_record
from release_portal.webhooks import events


def refresh_digests(release: Release) -> dict[str, Any]:
    snapshot = digest.release_snapshot(release)
    release.content_digest = snapshot["content_digest"]
    release.digest = digest.digest_of_snapshot(snapshot)
    return snapshot


def keep_digest_snapshot(release: Release, snapshot: dict[str, Any]) -> None:
    """Remember what this digest covered, so a form carrying it can be told what changed."""
    ReleaseDigestSnapshot.objects.get_or_create(
        release=release, digest=release.digest, defaults={"snapshot": snapshot}
    )


def require_seen_digest(release: Release, seen_digest: str, *, doing: str) -> None:
    """Refuse when the release digest is not ``seen_digest``, the one the person's page
    showed: they would approve something they never saw. Call with the release locked."""
    seen = (seen_digest or "").strip()
    if seen == release.digest:
        return
    before = (
        ReleaseDigestSnapshot.objects.filter(release=release, digest=seen)
        .values_list("snapshot", flat=True)
        .first()
        if seen
        else None
    )
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


def release_refresh(*, release: Release, actor: Any, reason: str) -> Refresh:
    """Recompute digests; mark sign-offs and outdated items stale; move the state.

    Must be called inside the transaction of the change that may have altered the
    release (a tick, new evidence, new files). Writes audit events for what went stale.
    """
    old_content, old_digest = release.content_digest, release.digest
    snapshot = refresh_digests(release)
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
        now = timezone.now()
        for signoff in release.signoffs.filter(stale_at__isnull=True).select_related("user"):
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
            stale_signoffs += 1
        _reopen_signoff_items(release)
    release.save(update_fields=["content_digest", "digest", "updated_at"])
    if release.digest != old_digest:
        keep_digest_snapshot(release, snapshot)
    _move_state(release, actor)
    return Refresh(
        release.digest != old_digest,
        release.content_digest != old_content,
        stale_signoffs,
        stale_items,
    )


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


def _derived_state(release: Release) -> str:
    items = list(release.items.select_related("step"))
    checklist = [i for i in items if not i.step.is_signoff]
    if checklist and all(i.is_settled for i in checklist):
        required = rules.signoff_kinds_required(release)
        current = set(release.signoffs.current().values_list("kind", flat=True))
        approved = set(required) <= current and release.migration_files.exists()
        return Release.State.APPROVED if approved else Release.State.READY
    active = (
        any(i.state != ChecklistItem.State.OPEN for i in items)
        or release.migrations_source != ""
        or release.jobs.exists()
    )
    return Release.State.PREFLIGHT if active else Release.State.DRAFT


def _move_state(release: Release, actor: Any) -> None:
    if release.state not in rules.PRE_DEPLOY:
        return
    target = _derived_state(release)
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
