"""Options and files for the SRE jobs: where a backup goes, which backup a check restores.

``sre_job_options(job)`` is entered by the job context (migrations_ops.jobs.context) for
the job's whole run and yields the options it adds:

- backup: ``out_dir``: the storage's folder for the target (local), or a temporary folder
  whose dump and manifest are uploaded when the runner succeeds (S3; ``publish`` reads
  each object back and checks its sha256);
- restore_check: ``manifest``: the backup's manifest (downloaded with its dump into a
  temporary folder for S3; the manifest, now holding the verification, is uploaded back);
- rehearsal / rollback: ``plan`` (the saved RollbackPlan, with ``plan_id``) and
  ``backup_manifest`` (the plan's backup, fetched the same way); a rollback also holds the
  target's deploy lock (``rollback.lock.target_lock``) until the job ends;
- apply: the same deploy lock, so a deploy and a rollback never run on one target at once.

The backup row is named by ``params["backup_id"]``; a restore_check started from the
generic "Run" form checks the target's newest backup. Runner errors name what to do.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from migrations_ops.backups.storage import StorageError, current_storage, key_for, storage_for
from migrations_ops.models import BackupManifest, Job, RollbackPlan
from migrations_ops.pg.backup_manifest import MANIFEST_SUFFIX
from migrations_ops.pg.rollback_lock import target_lock
from migrations_ops.runners.base import RunnerError

K = Job.Kind


def backup_for_job(job: Job) -> BackupManifest | None:
    backup_id = (job.params or {}).get("backup_id")
    backups = BackupManifest.objects.filter(project=job.project_id, deleted_at__isnull=True)
    if backup_id:
        return backups.filter(pk=backup_id).first()
    return backups.filter(target=job.target_id).order_by("-finished_at", "-pk").first()


@contextlib.contextmanager
def _backup_out_dir(job: Job) -> Iterator[dict[str, Any]]:
    if job.target is None:
        raise RunnerError("a backup needs a target: choose the database to back up")
    storage = current_storage()
    key_dir = key_for(job.project.slug, job.target.name)
    local = storage.local_path(key_dir)
    if local is not None:
        yield {"out_dir": str(local)}
        return
    with tempfile.TemporaryDirectory(prefix="rp_backup_") as tmp:
        yield {"out_dir": tmp}
        names = sorted(p.name for p in Path(tmp).iterdir() if not p.name.startswith("."))
        try:
            storage.publish(Path(tmp), names, key_dir)
        except (StorageError, OSError) as e:
            raise RunnerError(f"the backup was made but could not be stored: {e}") from None


@contextlib.contextmanager
def _backup_files(backup: BackupManifest, *, upload_manifest: bool) -> Iterator[Path]:
    """A local path of the backup's manifest, its dump beside it."""
    storage = storage_for(backup.storage, backup.location)
    local = storage.local_path(backup.manifest_key)
    if local is not None:
        yield local
        return
    with tempfile.TemporaryDirectory(prefix="rp_restore_") as tmp:
        manifest = Path(tmp) / (backup.file_name + MANIFEST_SUFFIX)
        try:
            storage.fetch(backup.manifest_key, manifest)
            storage.fetch(backup.file_key, Path(tmp) / backup.file_name)
        except StorageError as e:
            raise RunnerError(f"could not fetch the backup {backup.file_name}: {e}") from None
        yield manifest
        if upload_manifest:
            try:
                storage.upload(manifest, backup.manifest_key)
            except StorageError as e:
                raise RunnerError(f"the verification could not be stored: {e}") from None


def _plan_options(job: Job) -> tuple[dict[str, Any], BackupManifest | None]:
    plan_id = (job.params or {}).get("plan_id")
    plan = RollbackPlan.objects.filter(pk=int(plan_id or 0), project=job.project_id).first()
    if plan is None:
        raise RunnerError("this job names no saved rollback plan: save a plan first")
    data = {
        "plan_id": plan.pk,
        "steps": plan.steps,
        "last_good_version": plan.last_good_version,
        "verified_target_version": plan.verified_target_version,
        "applied_versions": plan.applied_versions,
        "release_versions": sorted({v for step in plan.steps for v in step.get("reverts", [])}),
    }
    backup = plan.backup
    if backup is not None and backup.is_deleted:
        raise RunnerError(f"the plan's backup {backup.file_name} was deleted: make a new plan")
    return {"plan": data}, backup


def _holder(job: Job) -> str:
    other = (
        Job.objects.filter(
            target=job.target_id, kind__in=[K.APPLY, K.ROLLBACK], state=Job.State.RUNNING
        )
        .exclude(pk=job.pk)
        .first()
    )
    if other is None:
        return ""
    release = f" of release #{other.release_id}" if other.release_id else ""
    return f"{other.get_kind_display().lower()} job #{other.pk}{release}"


@contextlib.contextmanager
def sre_job_options(job: Job) -> Iterator[dict[str, Any]]:
    """Options the job context adds for backup, restore_check, rehearsal, rollback, apply."""
    with contextlib.ExitStack() as stack:
        options: dict[str, Any] = {}
        if job.kind in (K.ROLLBACK, K.APPLY) and job.target is not None:
            stack.enter_context(
                target_lock(job.target.pk, target_name=job.target.name, holder=lambda: _holder(job))
            )
        if job.kind == K.BACKUP:
            options.update(stack.enter_context(_backup_out_dir(job)))
        elif job.kind == K.RESTORE_CHECK:
            backup = backup_for_job(job)
            if backup is None:
                raise RunnerError("there is no backup of this target to check: capture one first")
            path = stack.enter_context(_backup_files(backup, upload_manifest=True))
            options["manifest"] = str(path)
        elif job.kind in (K.REHEARSAL, K.ROLLBACK):
            plan_options, backup = _plan_options(job)
            options.update(plan_options)
            if backup is not None:
                path = stack.enter_context(_backup_files(backup, upload_manifest=False))
                options["backup_manifest"] = str(path)
        yield options
