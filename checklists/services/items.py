"""Ticking checklist items and attaching evidence.

Only the owning role (or a platform lead; the release owner for the sign-off step)
ticks, unticks or marks an item not applicable. Jobs and CI reports attach evidence and
say whether it passed; they never tick. A second click, a second person or a stale form
is told "already done by X at T" and writes nothing.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from checklists import bundles, rules
from checklists.models import ChecklistItem, Evidence, Release, SignOff, Waiver
from checklists.services.errors import (
    AlreadyDone,
    ChangedSinceOpened,
    ChecklistError,
    content_changed_since,
    when,
)
from checklists.services.state import release_refresh
from checklists.sql import exists_sql
from migrations_ops.jobs.kinds import KINDS, kind_spec
from migrations_ops.jobs.output import summary_for_all
from release_portal.accounts.roles import roles_by_project
from release_portal.audit.services import Actor, actor_of, audit_record

MAX_EVIDENCE_BYTES = 20 * 1024 * 1024


def _locked(item: ChecklistItem, *, seen_by: Any = None) -> ChecklistItem:
    """``item`` read again with its release, both locked for the transaction, in one
    statement. With ``seen_by``, only in a project where that person holds a role: for
    anyone else it does not exist (``ChecklistItem.DoesNotExist``, a 404 to the view),
    and nothing is locked.

    The release comes with its owner and whether any sign-off is not stale yet (for
    release_refresh), so nothing reads it twice; the item with its step and whether it
    has evidence and waivers (for its htmx answer, selectors.with_evidence). All three
    are added to only under the release's lock."""
    items = ChecklistItem._meta.db_table
    # Every writer locks the release first, then the item. One statement does too:
    # PostgreSQL locks each row's tables in the order FOR UPDATE OF names them.
    queryset = ChecklistItem.objects.all()
    if seen_by is not None:
        queryset = queryset.filter(release__project_id__in=list(roles_by_project(seen_by)))
    locked = (
        queryset.select_for_update(of=("release", "self"))
        .select_related("release__owner", "step")
        .annotate(
            has_live_signoffs=exists_sql(
                SignOff, f"x.release_id = {items}.release_id AND x.stale_at IS NULL"
            ),
            has_evidence=exists_sql(Evidence, f"x.item_id = {items}.id"),
            has_waivers=exists_sql(Waiver, f"x.item_id = {items}.id"),
        )
        .order_by()
        .get(pk=item.pk, release_id=item.release_id)
    )
    locked.release.has_live_signoffs = locked.has_live_signoffs  # type: ignore[attr-defined]
    return locked


def _check_open(item: ChecklistItem) -> None:
    if item.release.state not in rules.OPEN_FOR_CHANGES:
        raise ChecklistError(
            f"The release is {item.release.get_state_display().lower()}: its checklist is closed."
        )


def check_may_tick(user: Any, item: ChecklistItem) -> None:
    """PermissionDenied, naming the role, unless ``user`` may tick ``item``."""
    if not rules.can_tick(user, item):
        owner = item.step.get_owner_display()
        raise PermissionDenied(f"Only the {owner} (or a platform lead) ticks this item.")


def _check_revision(item: ChecklistItem, expected_revision: int | None) -> None:
    if expected_revision is not None and expected_revision != item.revision:
        who = item.done_by.get_username() if item.done_by else "someone"
        raise AlreadyDone(
            f"This item changed while you looked at it: it is now "
            f"{item.get_state_display().lower()} (by {who} at {when(item.done_at)}). "
            "Reload to see it."
        )


def _check_content(item: ChecklistItem, seen_content: str | None, *, done: str, again: str) -> None:
    """Refuse when the migrations changed since the person's page showed ``seen_content``
    (the release's content digest): a tick or "not applicable" says something about the
    migrations they looked at, not about ones uploaded after."""
    if not (why := content_changed_since(item.release, seen_content)):
        return
    raise ChangedSinceOpened(
        f"Nothing was {done}: {why}. Look at what changed, then {again} again if it still holds.",
        {"files": ["the migrations changed"]},
    )


def _check_proven(item: ChecklistItem) -> None:
    """An evidence-required item is ticked only on proof: its check passed for these
    migrations (checklists.proof), or a waiver for them was approved. A link, a file or a
    comment never stands in for a failed check; a waiver is the way past it."""
    from checklists.proof import check_item

    check = check_item(item)
    if check is None or check.passed:
        return
    if Waiver.objects.active().filter(item=item).exists():
        return
    if check.status == "failed":
        raise ChecklistError(
            f"The latest check for these migrations {check.explanation}. A tick, a link or a "
            "comment does not override a failed check: fix it and run the check again, or ask "
            "for a waiver (a second person approves it)."
        )
    kinds = ", ".join(item.step.evidence_kinds) or "its evidence"
    raise ChecklistError(
        f"This step needs proof for these migrations first ({kinds}): no passing check has "
        "reported for them yet. Run the check, or ask for a waiver (a second person approves it)."
    )


@transaction.atomic
def item_tick(
    *,
    item: ChecklistItem,
    user: Any,
    comment: str = "",
    expected_revision: int | None = None,
    link: str = "",
    upload: UploadedFile | None = None,
    seen_content: str | None = None,
) -> ChecklistItem:
    """Mark ``item`` done, optionally attaching a link or a file as its evidence.
    ``item`` may be a reference (its id and its release's): it is read here, and is not
    found unless ``user`` holds a role in its project. With ``seen_content`` (the content
    digest the person's page showed), refused when the migrations changed since."""
    item = _locked(item, seen_by=user)
    check_may_tick(user, item)
    _check_open(item)
    if item.step.is_signoff:
        raise ChecklistError("The sign-off step is ticked by signing off, below the checklist.")
    if item.state == ChecklistItem.State.DONE:
        who = item.done_by.get_username() if item.done_by else "someone"
        raise AlreadyDone(f"Already done by {who} at {when(item.done_at)}.")
    _check_revision(item, expected_revision)
    _check_content(item, seen_content, done="ticked", again="tick it")
    if link or upload:
        _attach_manual(item=item, user=user, link=link, upload=upload)
        item.has_evidence = True  # type: ignore[attr-defined]
    _check_proven(item)
    return _change(
        item, user=user, to=ChecklistItem.State.DONE, note=comment, action="item.tick",
        note_key="comment", said="ticked",
    )  # fmt: skip


def _change(
    item: ChecklistItem, *, user: Any, to: str, note: str, action: str, note_key: str, said: str
) -> ChecklistItem:
    """Move ``item`` to ``to`` (done and not-applicable name who and when), audited, and
    refresh the release: the digests, what goes stale, its state."""
    before = item.state
    settled = to in (ChecklistItem.State.DONE, ChecklistItem.State.NOT_APPLICABLE)
    item.state = to
    item.done_by = user if settled else None
    item.done_at = timezone.now() if settled else None
    item.comment = note.strip()[:5000]
    item.revision += 1
    item.save()
    audit_record(
        actor=user,
        action=action,
        obj=item,
        release=item.release,
        data={"step": item.step.key, "from": before, "to": to, note_key: item.comment},
    )
    # A tick changes the checklist, never the files: only the checklist part is read again.
    release_refresh(
        release=item.release, actor=user, reason=f"“{item.step.text[:60]}” {said}",
        files_changed=False,
    )  # fmt: skip
    return item


@transaction.atomic
def _set_state(
    *, item: ChecklistItem, user: Any, to: str, reason: str, action: str,
    expected_revision: int | None, seen_content: str | None = None,
) -> ChecklistItem:  # fmt: skip
    item = _locked(item, seen_by=user)
    check_may_tick(user, item)
    _check_open(item)
    if item.step.is_signoff:
        raise ChecklistError("The sign-off step follows the sign-offs; it is not set by hand.")
    if not reason.strip():
        raise ChecklistError("Give a reason: it goes into the change log.")
    if to == ChecklistItem.State.NOT_APPLICABLE and item.step.requires_evidence:
        raise ChecklistError(
            "This step requires evidence: marking it not applicable is a waiver. Ask for one "
            "(“not applicable”, with your reason); a second person approves it."
        )
    if item.state == to:
        who = item.done_by.get_username() if item.done_by else "someone"
        raise AlreadyDone(
            f"Already {item.get_state_display().lower()} (by {who} at {when(item.done_at)})."
        )
    _check_revision(item, expected_revision)
    _check_content(item, seen_content, done="marked not applicable", again="mark it not applicable")
    return _change(
        item, user=user, to=to, note=reason, action=action, note_key="reason", said=action
    )


def item_untick(
    *, item: ChecklistItem, user: Any, reason: str, expected_revision: int | None = None
) -> ChecklistItem:
    return _set_state(
        item=item, user=user, to=ChecklistItem.State.OPEN, reason=reason, action="item.untick",
        expected_revision=expected_revision,
    )  # fmt: skip


def item_mark_not_applicable(
    *, item: ChecklistItem, user: Any, reason: str, expected_revision: int | None = None,
    seen_content: str | None = None,
) -> ChecklistItem:  # fmt: skip
    """Refused, as a tick is, when the migrations changed since ``seen_content``."""
    return _set_state(
        item=item, user=user, to=ChecklistItem.State.NOT_APPLICABLE, reason=reason,
        action="item.not_applicable", expected_revision=expected_revision,
        seen_content=seen_content,
    )  # fmt: skip


def _attach_manual(
    *, item: ChecklistItem, user: Any, link: str, upload: UploadedFile | None
) -> None:
    if link:
        evidence_add(item=item, actor=user, kind=Evidence.Kind.LINK, url=link, summary=link[:200])
    if upload is not None:
        if upload.size and upload.size > MAX_EVIDENCE_BYTES:
            raise ChecklistError(
                f"{upload.name} is larger than {MAX_EVIDENCE_BYTES // (1024 * 1024)} MB."
            )
        data = upload.read()
        upload.seek(0)
        evidence_add(
            item=item, actor=user, kind=Evidence.Kind.FILE, upload=upload,
            summary=(upload.name or "file")[:200], file_sha256=bundles.sha256_hex(data),
        )  # fmt: skip


def evidence_add(
    *,
    item: ChecklistItem,
    actor: Any,
    kind: str,
    status: str = Evidence.Status.INFO,
    summary: str = "",
    url: str = "",
    upload: UploadedFile | None = None,
    file_sha256: str = "",
    job: Any = None,
    commit_sha: str = "",
    content_digest: str | None = None,
    data: dict[str, Any] | None = None,
) -> Evidence:
    """Attach evidence to ``item`` (in the caller's transaction), audited; never ticks. A
    failure ends a check waiver that did not waive it (``waivers_end_on_failure``), which
    reopens the item; the caller refreshes the release as after any evidence."""
    who = actor_of(actor)
    evidence = Evidence(
        item=item,
        kind=kind,
        status=status,
        summary=summary[:500],
        url=url,
        job=job,
        commit_sha=commit_sha,
        digest=item.release.content_digest if content_digest is None else content_digest,
        data=data or {},
        created_by=actor if who.kind == "user" else None,
        created_by_name=who.name,
        file_sha256=file_sha256,
    )
    if upload is not None:
        evidence.file_name = (upload.name or "file")[:255]
        evidence.file.save(evidence.file_name, upload, save=False)
    evidence.save()
    audit_record(
        actor=actor,
        action="evidence.add",
        obj=evidence,
        release=item.release,
        data={
            "step": item.step.key,
            "kind": kind,
            "status": status,
            "summary": evidence.summary,
            "url": url,
            "job": getattr(job, "pk", None),
            "file_sha256": file_sha256,
        },
    )
    if evidence.status == Evidence.Status.FAILED:
        # A failure a waiver never saw ends it (waivers imports this module: imported here).
        from checklists.services.waivers import waivers_end_on_failure

        waivers_end_on_failure(item=item, evidence=evidence, actor=actor)
    return evidence


def items_for_evidence(release: Release, evidence_kind: str) -> list[ChecklistItem]:
    """The release's items whose step names ``evidence_kind`` (e.g. "job:rls", "ci:secrets")."""
    return list(
        release.items.select_related("step", "release")
        .filter(step__evidence_kinds__contains=[evidence_kind])
        .order_by("step__position")
    )


def _passed_without_proof(job: Any) -> str:
    """Why a job that succeeded still proves nothing about its step, or "". The dry run is
    "against staging" (runbook §3): one that read no target (none was named, or it could
    not be reached) applied the files on top of the migrations alone."""
    if job.kind == "dry_run" and (job.result or {}).get("basis") == "local_migrations":
        return "staging was not read, so this dry run is no proof of the step"
    return ""


@transaction.atomic
def evidence_from_job(*, job: Any) -> list[Evidence]:
    """A finished job becomes evidence for every item whose step names its kind."""
    if job.release_id is None or job.state not in ("succeeded", "failed"):
        return []
    release = Release.objects.select_for_update().get(pk=job.release_id)
    attached = []
    # An informational kind (risk, access) attaches to the steps it informs too, as
    # information: it never passes or fails an item by itself.
    informs = kind_spec(job.kind).informs if job.kind in KINDS else ()
    status = (
        Evidence.Status.INFO
        if informs
        else Evidence.Status.PASSED
        if job.state == "succeeded"
        else Evidence.Status.FAILED
    )
    # Every member reads the checklist: the verdict alone for a job over production's rows.
    summary = summary_for_all(job) or job.get_kind_display()
    if status == Evidence.Status.PASSED and (why := _passed_without_proof(job)):
        status, summary = Evidence.Status.INFO, f"{why}: {summary}"
    items = {}
    for evidence_kind in (f"job:{job.kind}", *informs):
        items.update({item.pk: item for item in items_for_evidence(release, evidence_kind)})
    for item in sorted(items.values(), key=lambda i: i.step.position):
        attached.append(
            evidence_add(
                item=item,
                actor=Actor.system(f"job #{job.pk}"),
                kind=Evidence.Kind.JOB,
                status=status,
                summary=summary,
                job=job,
                content_digest=job.content_digest,
            )
        )
    # Even with nothing attached, a job that ran moves a draft release into pre-flight.
    release_refresh(release=release, actor=None, reason=f"new evidence from job #{job.pk}")
    return attached
