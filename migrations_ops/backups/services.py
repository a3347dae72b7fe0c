"""Backups (runbook §5.1): capture, record, verify, log the dashboard snapshot, delete, download.

A backup job's end makes a BackupManifest row and queues a restore_check for it; the
check's end records the verification. A backup counts as captured only when its restore
check passed: then it becomes passing "backup" evidence on the release's checklist. The
SRE's dashboard snapshot reference becomes "snapshot_ref" evidence. Services are
keyword-only, one transaction each, audited in it; the job end hooks run inside the
transaction that finishes the job.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from checklists import proof, rules
from checklists.models import Evidence, Release
from checklists.services.errors import AlreadyDone
from checklists.services.items import evidence_add, items_for_evidence
from checklists.services.state import release_refresh
from migrations_ops.backups.changelog import changelog_after_commit
from migrations_ops.backups.selectors import protected_reason
from migrations_ops.backups.storage import StorageError, current_storage, key_for, storage_for
from migrations_ops.jobs.output import summary_for_all
from migrations_ops.jobs.services import job_enqueue
from migrations_ops.models import BackupManifest, Job, RollbackPlan, Target
from migrations_ops.pg.backup_manifest import MANIFEST_SUFFIX, ManifestFile
from release_portal.accounts.access import require_actor
from release_portal.accounts.roles import Action
from release_portal.audit.services import Actor, actor_of, audit_record
from release_portal.webhooks import events

K = Job.Kind
V = BackupManifest.Verify


class BackupError(ValidationError):
    """A backup action that cannot be done; the message says why and what to do."""


_require = require_actor  # people need the action; tokens and jobs were checked before


@transaction.atomic
def backup_capture(
    *, release: Release, target: Target, user: Any, snapshot_ref: str = "", fmt: str = "plain"
) -> Job:
    """Queue a backup of ``target`` for ``release`` (the "Capture backup" button)."""
    _require(user, Action.MANAGE_BACKUPS, release.project_id, "Only SREs and platform leads "
             "capture backups.")  # fmt: skip
    if target.project_id != release.project_id:
        raise BackupError(f"The target {target.name} belongs to another project.")
    if fmt not in ("plain", "custom"):
        raise BackupError("Choose the plain (SQL) or custom (pg_restore) format.")
    params: dict[str, Any] = {"format": fmt}
    if snapshot_ref.strip():
        params["snapshot_ref"] = snapshot_ref.strip()[:300]
    job = job_enqueue(
        kind=K.BACKUP, project=release.project, release=release, target=target,
        params=params, created_by=user,
    )  # fmt: skip
    if not job.already_active:
        audit_record(
            actor=user, action="backup.capture", obj=release,
            data={"job": job.pk, "target": target.name, "format": fmt,
                  "snapshot_ref": params.get("snapshot_ref", "")},
        )  # fmt: skip
    return job


def _enqueue_verify(backup: BackupManifest, actor: Any) -> Job:
    job = job_enqueue(
        kind=K.RESTORE_CHECK, project=backup.project, release=backup.release,
        target=backup.target, params={"backup_id": backup.pk}, created_by=actor,
    )  # fmt: skip
    if not job.already_active:
        backup.verify_job = job
        backup.save(update_fields=["verify_job"])
    return job


def backup_record_from_job(*, job: Job) -> BackupManifest | None:
    """A succeeded backup job becomes a BackupManifest row, and its restore check is queued.

    Runs inside the job's finishing transaction (an end hook). Idempotent per job.
    """
    if job.kind != K.BACKUP or job.state != Job.State.SUCCEEDED or job.target is None:
        return None
    existing = BackupManifest.objects.filter(job=job).first()
    if existing is not None:
        return existing
    manifest = ManifestFile.from_dict(job.result)
    storage = current_storage()
    key_dir = key_for(job.project.slug, job.target.name)
    backup = BackupManifest.objects.create(
        project=job.project, release=job.release, target=job.target, job=job,
        schemas=manifest.schemas, storage=storage.kind, location=storage.location,
        file_name=manifest.file, file_key=f"{key_dir}/{manifest.file}",
        manifest_key=f"{key_dir}/{manifest.file}{MANIFEST_SUFFIX}", format=manifest.format,
        sha256=manifest.sha256, size=manifest.size,
        applied_versions=manifest.applied_versions, pending_versions=manifest.pending_versions,
        tables=[t for t in manifest.to_dict()["tables"]], total_rows=manifest.total_rows,
        pg_dump_version=manifest.pg_dump.version, server_version=manifest.server_version,
        started_at=manifest.started_at, finished_at=manifest.finished_at,
        manifest=manifest.to_dict(), snapshot_ref=manifest.snapshot_ref or "",
        snapshot_ref_by_name=job.created_by_name if manifest.snapshot_ref else "",
        snapshot_ref_at=manifest.finished_at if manifest.snapshot_ref else None,
    )  # fmt: skip
    actor = Actor.system(f"job #{job.pk}")
    audit_record(
        actor=actor, action="backup.record", obj=backup, project=job.project_id,
        release=job.release_id,
        data={"file": backup.file_name, "sha256": backup.sha256, "size": backup.size,
              "target": job.target.name, "storage": backup.storage,
              "applied_versions": backup.applied_versions},
    )  # fmt: skip
    if backup.snapshot_ref:
        _snapshot_evidence(backup, actor)
    _enqueue_verify(backup, actor)
    changelog_after_commit(job.project_id)
    return backup


def _backup_for_check(job: Job) -> BackupManifest | None:
    backup_id = (job.params or {}).get("backup_id")
    if backup_id:
        return BackupManifest.objects.filter(pk=backup_id, project=job.project_id).first()
    path = str((job.result or {}).get("manifest_path") or "")
    name = path.rsplit("/", 1)[-1].removesuffix(MANIFEST_SUFFIX)
    return BackupManifest.objects.filter(target=job.target_id, file_name=name).first()


def backup_record_verification(*, job: Job) -> BackupManifest | None:
    """A finished restore_check writes its verdict on the backup (and the checklist)."""
    if job.kind != K.RESTORE_CHECK or job.state == Job.State.CANCELLED:
        return None
    backup = _backup_for_check(job)
    if backup is None:
        return None
    backup = BackupManifest.objects.select_for_update().get(pk=backup.pk)
    verification = dict((job.result or {}).get("verification") or {})
    if not verification:  # the job failed before comparing (file gone, server down...)
        verification = {
            "ok": False, "summary": job.summary or "the restore check failed",
            "verified_at": (job.finished_at or timezone.now()).isoformat(),
            "differences": [{"problem": "job", "message": job.summary}],
        }  # fmt: skip
    ok = bool(verification.get("ok")) and job.state == Job.State.SUCCEEDED
    backup.verify_state = V.PASSED if ok else V.FAILED
    backup.verified_at = _parse(verification.get("verified_at")) or timezone.now()
    backup.verification = verification
    backup.verify_job = job
    backup.manifest = {**backup.manifest, "verification": _manifest_verification(verification)}
    backup.save(update_fields=["verify_state", "verified_at", "verification", "verify_job",
                               "manifest"])  # fmt: skip
    actor = Actor.system(f"job #{job.pk}")
    # The change log, the checklist and the webhooks are every member's (or no member's):
    # the check's verdict alone, as it ran over production's rows. What it found stays on
    # the backup and the job, for SREs and platform leads (jobs.output).
    verdict = summary_for_all(job)
    audit_record(
        actor=actor, action="backup.verify", obj=backup, project=backup.project_id,
        release=backup.release_id,
        data={"file": backup.file_name, "ok": ok, "summary": verdict},
    )  # fmt: skip
    if backup.release_id:
        _backup_evidence(backup, actor, ok=ok, summary=verdict)
    if ok:
        events.backup_verified(manifest=backup, actor=actor)
    _verify_next_pending(backup, actor)
    changelog_after_commit(backup.project_id)
    return backup


def _manifest_verification(v: dict[str, Any]) -> dict[str, Any]:
    """The verification in the manifest file's format (a job failure has fewer fields)."""
    return {
        "verified_at": v.get("verified_at"),
        "ok": bool(v.get("ok")),
        "summary": v.get("summary", ""),
        "differences": v.get("differences", []),
        "restore_tool": v.get("restore_tool"),
        "duration_s": v.get("duration_s", 0.0),
        "tables_checked": v.get("tables_checked", 0),
        "rows_checked": v.get("rows_checked", 0),
    }


def _parse(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def _verify_next_pending(done: BackupManifest, actor: Any) -> None:
    """A backup whose check could not start (one was running) is checked next."""
    waiting = (
        BackupManifest.objects.filter(
            target=done.target_id, release=done.release_id, deleted_at__isnull=True,
            verify_state=V.PENDING,
        )
        .exclude(pk=done.pk)
        .order_by("-finished_at")
        .first()
    )  # fmt: skip
    if waiting is not None and (waiting.verify_job is None or not waiting.verify_job.is_active):
        _enqueue_verify(waiting, actor)


def _backup_evidence(backup: BackupManifest, actor: Any, *, ok: bool, summary: str) -> None:
    """The restore check's verdict on the release's backup step. Only a backup of
    production proves it (runbook §5.1: the backup taken before the production apply);
    one of staging is shown there as information, passing nothing and failing nothing."""
    release = Release.objects.select_for_update().get(pk=backup.release_id or 0)
    digest = backup.job.content_digest if backup.job else None
    status, where = proof.for_production(
        backup.target,
        Evidence.Status.PASSED if ok else Evidence.Status.FAILED,
        "a backup of production",
    )
    for item in items_for_evidence(release, Evidence.Kind.BACKUP):
        evidence_add(
            item=item, actor=actor, kind=Evidence.Kind.BACKUP, status=status,
            summary=(f"{backup.file_name} on {where}: " + summary)[:500],
            job=backup.verify_job, content_digest=digest or None,
            data={"backup_id": backup.pk, "file": backup.file_name, "sha256": backup.sha256,
                  "size": backup.size, "verified": ok,
                  "taken_at": backup.finished_at.isoformat() if backup.finished_at else None},
        )  # fmt: skip
    release_refresh(release=release, actor=actor, reason=f"backup {backup.file_name} verified")


def _withdraw_proof(backup: BackupManifest, actor: Any) -> None:
    """A deleted backup no longer proves the release's backup step, nor a rollback plan
    that restores from it the rollback step: where one was the latest result the step's
    check read (checklists.proof), a failed result takes its place, so the release's
    sign-offs go stale and the gate closes until the step is proven again. A newer
    backup's or plan's proof, or a release whose checklist is closed, stays."""
    if backup.release_id is None:
        return
    release = Release.objects.select_for_update().get(pk=backup.release_id)
    if release.state not in rules.OPEN_FOR_CHANGES:
        return
    restoring = [
        plan.pk
        for plan in RollbackPlan.objects.filter(release=release).only("pk", "steps")
        if any(s.get("kind") == "restore" and s.get("backup_id") == backup.pk for s in plan.steps)
    ]
    lost = {
        Evidence.Kind.BACKUP: (
            Q(data__backup_id=backup.pk),
            f"{backup.file_name} on {backup.target.name} was deleted: capture and verify a "
            "new backup (or verify again one that is kept)",
        ),
        Evidence.Kind.ROLLBACK_PLAN: (
            Q(data__plan_id__in=restoring),
            f"the rollback plan restores from {backup.file_name}, which was deleted: save "
            "the plan again with a kept backup and rehearse it",
        ),
    }
    withdrawn = False
    for kind, (proved_by, summary) in lost.items():
        for item in items_for_evidence(release, kind):
            check = proof.check_item(item, release)
            read = [r["evidence"] for r in (check.results if check else []) if r["kind"] == kind]
            if not Evidence.objects.filter(proved_by, pk__in=read).exists():
                continue
            evidence_add(
                item=item, actor=actor, kind=kind, status=Evidence.Status.FAILED,
                summary=summary, data={"backup_id": backup.pk, "deleted": True},
            )  # fmt: skip
            withdrawn = True
    if withdrawn:
        release_refresh(release=release, actor=actor, reason=f"backup {backup.file_name} deleted")


def _snapshot_evidence(backup: BackupManifest, actor: Any) -> None:
    if backup.release_id is None:
        return
    release = Release.objects.select_for_update().get(pk=backup.release_id)
    digest = backup.job.content_digest if backup.job else None
    for item in items_for_evidence(release, Evidence.Kind.SNAPSHOT_REF):
        evidence_add(
            item=item, actor=actor, kind=Evidence.Kind.SNAPSHOT_REF,
            summary=f"Supabase dashboard backup {backup.snapshot_ref} (with {backup.file_name})",
            content_digest=digest or None,
            data={"backup_id": backup.pk, "snapshot_ref": backup.snapshot_ref},
        )  # fmt: skip
    release_refresh(release=release, actor=actor, reason="Supabase snapshot logged")


@transaction.atomic
def backup_verify(*, backup: BackupManifest, user: Any) -> Job:
    """ "Verify again": restore the backup into a scratch database and compare, once more."""
    _require(user, Action.MANAGE_BACKUPS, backup.project_id, "Only SREs and platform leads "
             "verify backups.")  # fmt: skip
    backup = BackupManifest.objects.select_for_update().get(pk=backup.pk)
    if backup.is_deleted:
        raise BackupError(f"{backup.file_name} was deleted: there is nothing to verify.")
    job = _enqueue_verify(backup, user)
    if not job.already_active:
        audit_record(
            actor=user, action="backup.verify_start", obj=backup, release=backup.release_id,
            data={"job": job.pk, "file": backup.file_name},
        )  # fmt: skip
    return job


@transaction.atomic
def backup_set_snapshot_ref(*, backup: BackupManifest, user: Any, reference: str) -> BackupManifest:
    """Log the manual Supabase dashboard backup (§5.1 step 1) with this backup."""
    _require(user, Action.MANAGE_BACKUPS, backup.project_id, "Only SREs and platform leads "
             "log snapshots.")  # fmt: skip
    reference = " ".join(reference.split())[:300]
    if not reference:
        raise BackupError("Give the dashboard backup's reference (its name or time, as shown).")
    backup = BackupManifest.objects.select_for_update().get(pk=backup.pk)
    if backup.is_deleted:
        raise BackupError(f"{backup.file_name} was deleted: log the snapshot with a newer backup.")
    if backup.snapshot_ref == reference:
        raise AlreadyDone(f"Already logged by {backup.snapshot_ref_by_name}.")
    before = backup.snapshot_ref
    backup.snapshot_ref = reference
    backup.snapshot_ref_by_name = actor_of(user).name[:200]
    backup.snapshot_ref_at = timezone.now()
    backup.manifest = {**backup.manifest, "snapshot_ref": reference}
    backup.save(update_fields=["snapshot_ref", "snapshot_ref_by_name", "snapshot_ref_at",
                               "manifest"])  # fmt: skip
    audit_record(actor=user, action="backup.snapshot_ref", obj=backup, release=backup.release_id,
                 data={"file": backup.file_name, "before": before, "after": reference})  # fmt: skip
    _snapshot_evidence(backup, user)
    changelog_after_commit(backup.project_id)
    return backup


@transaction.atomic
def backup_delete(*, backup: BackupManifest, user: Any) -> BackupManifest:
    """Delete the dump and manifest files; the row stays as history, marked deleted.

    Refused for the newest verified backup of a release that reached production.
    """
    _require(user, Action.MANAGE_BACKUPS, backup.project_id, "Only SREs and platform leads "
             "delete backups.")  # fmt: skip
    backup = (
        BackupManifest.objects.select_for_update(of=("self",))
        .select_related("release", "target", "project")
        .get(pk=backup.pk)
    )
    if backup.is_deleted:
        raise AlreadyDone(f"Already deleted by {backup.deleted_by_name}.")
    reason = protected_reason(backup)
    if reason:
        raise BackupError(reason)
    storage = storage_for(backup.storage, backup.location)
    try:
        storage.delete(backup.file_key)
        storage.delete(backup.manifest_key)
    except StorageError as e:
        raise BackupError(f"Could not delete the files: {e}. Nothing was marked deleted.") from None
    backup.deleted_at = timezone.now()
    backup.deleted_by_name = actor_of(user).name[:200]
    backup.save(update_fields=["deleted_at", "deleted_by_name"])
    audit_record(actor=user, action="backup.delete", obj=backup, release=backup.release_id,
                 data={"file": backup.file_name, "sha256": backup.sha256,
                       "verified": backup.verify_state})  # fmt: skip
    _withdraw_proof(backup, user)
    changelog_after_commit(backup.project_id)
    return backup


@transaction.atomic
def backup_download(*, backup: BackupManifest, user: Any, manifest: bool = False) -> Any:
    """Record the download (``backup.download``) and return ``(chunks, size, file name)``."""
    _require(user, Action.DOWNLOAD_BACKUP, backup.project_id, "Only SREs and platform leads "
             "download backups.")  # fmt: skip
    if backup.is_deleted:
        raise BackupError(f"{backup.file_name} was deleted: its files are gone.")
    key = backup.manifest_key if manifest else backup.file_key
    name = backup.file_name + (MANIFEST_SUFFIX if manifest else "")
    try:
        chunks, size = storage_for(backup.storage, backup.location).stream(key)
    except StorageError as e:
        raise BackupError(f"The backup's file cannot be read: {e}") from None
    audit_record(actor=user, action="backup.download", obj=backup, release=backup.release_id,
                 data={"file": name, "sha256": backup.sha256, "size": size})  # fmt: skip
    return chunks, size, name
