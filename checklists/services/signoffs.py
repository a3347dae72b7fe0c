"""Sign-offs: a person approves the release exactly as it is (its digest).

The release owner signs last, when every other item is done or not applicable and the
other required sign-offs are current. Signing asks for the password again (step-up).
Any later change to what the digest covers makes every sign-off stale (see
services.release_refresh), and the person signs again.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from checklists import digest, proof, rules
from checklists.models import ChecklistItem, Release, SignOff, Waiver
from checklists.services.errors import AlreadyDone, ChecklistError, when
from checklists.services.state import release_refresh, require_seen_digest, withdraw_signoffs
from release_portal.accounts.recheck import PasswordRecheckFailed, password_recheck
from release_portal.accounts.roles import RELEASE_OWNER_ROLES, Role, roles_in
from release_portal.audit.services import audit_record


def open_items(release: Release) -> list[ChecklistItem]:
    return [
        i
        for i in release.items.select_related("step").order_by("step__position")
        if not i.step.is_signoff and not i.is_settled
    ]


def signoff_give(
    *, release: Release, user: Any, kind: str, password: str, seen_digest: str
) -> SignOff:
    """Record ``user``'s sign-off of the release's current digest, after a password check.

    ``seen_digest`` is the release digest the signer's page showed: when the release
    changed since (a new upload, a tick, new evidence), nothing is signed and the refusal
    says what changed."""
    if kind in SignOff.Kind.values and not rules.can_sign_as(user, release, kind):
        raise PermissionDenied("You cannot give this sign-off.")
    try:
        # A wrong password is recorded in its own transaction: it stays in the log.
        password_recheck(
            user=user, password=password, purpose="signoff", doing="signing",
            refused_action="signoff.password_refused", obj=release, data={"kind": kind},
        )  # fmt: skip
    except PasswordRecheckFailed as e:
        raise ChecklistError(e.messages[0]) from None
    return _signoff_give(release=release, user=user, kind=kind, seen_digest=seen_digest)


@transaction.atomic
def _signoff_give(*, release: Release, user: Any, kind: str, seen_digest: str) -> SignOff:
    release = Release.objects.select_for_update().select_related("project").get(pk=release.pk)
    if kind not in SignOff.Kind.values:
        raise ChecklistError(f"Unknown sign-off {kind!r}.")
    if not rules.can_sign_as(user, release, kind):
        if kind == SignOff.Kind.RELEASE_OWNER:
            raise PermissionDenied(f"Only the release owner ({release.owner}) gives this sign-off.")
        raise PermissionDenied(f"Only a {SignOff.Kind(kind).label} gives this sign-off.")
    if release.state not in rules.OPEN_FOR_CHANGES:
        raise ChecklistError(
            f"The release is {release.get_state_display().lower()}: too late to sign."
        )
    required = rules.signoff_kinds_required(release)
    if kind not in required:
        raise ChecklistError(
            f"This project does not ask for a {SignOff.Kind(kind).label} sign-off."
        )
    require_seen_digest(release, seen_digest, doing="signed")
    waiting = open_items(release)
    if waiting:
        names = "; ".join(f"“{i.step.text[:60]}”" for i in waiting[:3])
        raise ChecklistError(
            f"{len(waiting)} item(s) are not done or not applicable yet: {names}"
            + ("…" if len(waiting) > 3 else "")
        )
    if kind == SignOff.Kind.RELEASE_OWNER:
        current = set(release.signoffs.current().values_list("kind", flat=True))
        missing = [k for k in required if k != kind and k not in current]
        if missing:
            labels = ", ".join(SignOff.Kind(k).label for k in missing)
            raise ChecklistError(f"The owner signs last: waiting for the {labels} sign-off.")
        if not release.migration_files.exists():
            raise ChecklistError(
                "The release has no migration files: there is nothing to approve. Upload its "
                "supabase/ folder first."
            )
        failed = [c for c in proof.release_checks(release) if not c.passed]
        waived = set(Waiver.objects.active().filter(release=release).values_list("item", flat=True))
        failed = [c for c in failed if c.item.pk not in waived]
        if failed:
            names = "; ".join(f"“{c.item.step.text[:60]}”: {c.explanation}" for c in failed[:3])
            raise ChecklistError(
                f"{len(failed)} check(s) did not pass for these migrations, and no waiver lets "
                f"them past: {names}"
            )
        if release.project.uploader_may_not_sign and release.migrations_uploaded_by_id == user.pk:
            raise ChecklistError(
                "You uploaded these migrations, and this project asks someone else to give "
                "the final sign-off: a platform lead names another owner (“Name another "
                "owner”, under the sign-offs)."
            )
    existing = release.signoffs.filter(user=user).first()
    if existing and existing.is_current:
        raise AlreadyDone(f"Already signed by you at {when(existing.signed_at)}.")
    if existing and existing.kind != kind:
        raise ChecklistError(
            f"You already signed this release as {existing.get_kind_display()}: one person "
            "gives at most one sign-off per release."
        )
    snapshot = digest.release_snapshot(release)
    now = timezone.now()
    try:
        with transaction.atomic():
            signoff, _ = SignOff.objects.update_or_create(
                release=release, kind=kind,
                defaults={"user": user, "digest": release.digest, "signed_at": now,
                          "stale_at": None, "stale_reason": "", "snapshot": snapshot},
            )  # fmt: skip
    except IntegrityError:
        raise ChecklistError(
            "One person gives at most one sign-off per release, and each kind once."
        ) from None
    audit_record(
        actor=user,
        action="signoff.give",
        obj=signoff,
        release=release,
        data={"kind": kind, "digest": release.digest},
    )
    if kind == SignOff.Kind.RELEASE_OWNER:
        for item in release.items.filter(step__is_signoff=True).exclude(
            state=ChecklistItem.State.DONE
        ):
            item.state = ChecklistItem.State.DONE
            item.done_by = user
            item.done_at = now
            item.revision += 1
            item.save()
    release_refresh(release=release, actor=user, reason="sign-off given")
    return signoff


def signoff_changes(signoff: SignOff) -> dict[str, list[str]]:
    """What changed since ``signoff`` was given (for the stale banner)."""
    return digest.snapshot_changes(signoff.snapshot, digest.release_snapshot(signoff.release))


def signoffs_of_a_lost_role(*, user: Any, project_id: int, role: Role, actor: Any) -> int:
    """``user`` no longer holds ``role`` in the project (``accounts.signals.role_lost``):
    their sign-offs given as that role, and their owner's sign-off once no role left lets
    them own a release, stop counting on the project's releases not yet deploying. Each
    goes stale saying why; the release's state follows. Returns how many went stale."""
    kinds = {role.value} if role.value in SignOff.Kind.values else set()
    if not roles_in(user, project_id) & RELEASE_OWNER_ROLES:
        kinds.add(SignOff.Kind.RELEASE_OWNER)
    if not kinds:
        return 0
    stale = 0
    given = SignOff.objects.filter(user=user, kind__in=kinds, stale_at__isnull=True)
    releases = Release.objects.select_for_update().filter(
        project_id=project_id, state__in=rules.OPEN_FOR_CHANGES,
        pk__in=given.values("release_id"),
    )  # fmt: skip
    for release in releases.order_by("pk"):
        signoffs = release.signoffs.filter(user=user, kind__in=kinds, stale_at__isnull=True)
        stale += withdraw_signoffs(
            signoffs.select_related("user"), release=release, actor=actor,
            reason=f"{user.get_username()} is no longer {role.label} of this project",
        )  # fmt: skip
    return stale
