"""Rollback plans (runbook §5.2 step 3): worked out from the target's live history, saved as
evidence for "Rollback commands prepared", rehearsed on a scratch database.

A saved plan is "info" evidence; once a rehearsal passes it becomes "passed" evidence.
Reading the target's history connects to it (10 s timeout) before the transaction opens.
"""

from __future__ import annotations

import shlex
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from checklists.models import Evidence, MigrationFile, Release
from checklists.proof import for_production
from checklists.services.items import evidence_add, items_for_evidence
from checklists.services.state import release_refresh
from migrations_ops.backups.storage import LocalStorage, storage_for
from migrations_ops.jobs.output import summary_for_all
from migrations_ops.jobs.services import job_enqueue
from migrations_ops.models import BackupManifest, Job, RollbackPlan, Target
from migrations_ops.pg import supabase_files
from migrations_ops.pg.rollback_plan import (
    BackupChoice,
    Plan,
    ReleaseMigration,
    build_plan,
    suitable_backups,
)
from migrations_ops.runners.base import RunnerError, connect_target
from release_portal.accounts.access import require_actor
from release_portal.accounts.roles import Action
from release_portal.audit.services import Actor, actor_of, audit_record


class RollbackError(ValidationError):
    """A rollback action that cannot be done; the message says why and what to do."""


_require = require_actor  # people need the action; tokens and jobs were checked before


def read_target_history(target: Target) -> list[str]:
    """The target's applied versions, read live (``supabase migration list --linked``)."""
    try:
        with connect_target(
            target.database_url(), target.name, variable=target.url_env_var
        ) as conn:
            return [r.version for r in supabase_files.read_remote_history(conn)]
    except RunnerError as e:
        raise RollbackError(str(e)) from None
    except Exception as e:  # psycopg errors: permission denied, a damaged table...
        raise RollbackError(f"could not read {target.name}'s migration history: {e}") from None


def release_migrations(release: Release, target: Target) -> list[ReleaseMigration]:
    """The migrations this release brings to ``target``: its files minus those already there.

    A release's bundle holds the whole migrations folder, old files included. What was on
    the target before the release is read from the oldest backup taken for this release
    there (its manifest's applied versions, kept even once the files are deleted); without
    one, from the files of the project's earlier releases; else every file counts.
    """
    files = list(release.migration_files.order_by("version"))
    first = (
        BackupManifest.objects.filter(release=release, target=target)
        .order_by("started_at", "pk")
        .first()
    )
    if first is not None:
        before = set(first.applied_versions)
    else:
        before = set(
            MigrationFile.objects.filter(
                release__project=release.project_id, release__created_at__lt=release.created_at
            ).values_list("version", flat=True)
        )
    return [
        ReleaseMigration(
            version=m.version, filename=m.filename, down_filename=m.down_filename,
            down_sql=m.down_sql,
        )
        for m in files
        if m.version not in before
    ]  # fmt: skip


def backup_choice(backup: BackupManifest) -> BackupChoice:
    storage = storage_for(backup.storage, backup.location)
    if isinstance(storage, LocalStorage):
        path, fetch = str(storage.local_path(backup.file_key)), ""
    else:
        path = backup.file_name
        fetch = f"aws s3 cp {shlex.quote(storage.location + backup.file_key)} {path}"
    return BackupChoice(
        id=backup.pk, file_name=backup.file_name, format=backup.format,
        finished_at=backup.finished_at, applied_versions=tuple(backup.applied_versions),
        schemas=tuple(backup.schemas), fetch_command=fetch, file_path=path,
        snapshot_ref=backup.snapshot_ref,
    )  # fmt: skip


def verified_backups(target: Target) -> list[BackupManifest]:
    return list(
        BackupManifest.objects.verified().filter(target=target).order_by("-finished_at", "-pk")[:50]
    )


def plan_for(
    *, release: Release, target: Target, applied: list[str], backup_id: int | None = None
) -> tuple[Plan, list[BackupManifest]]:
    """The plan for ``applied`` and the backups that may serve it (the chosen one first)."""
    migrations = release_migrations(release, target)
    ours = {m.version for m in migrations}
    undo = [v for v in applied if v in ours]
    backups = verified_backups(target)
    fitting_ids = [c.id for c in suitable_backups([backup_choice(b) for b in backups], undo)]
    fitting = sorted(
        (b for b in backups if b.pk in fitting_ids), key=lambda b: fitting_ids.index(b.pk)
    )
    chosen = next((b for b in fitting if b.pk == backup_id), None) if backup_id else None
    if backup_id and chosen is None:
        raise RollbackError(
            "That backup cannot serve this plan: choose a verified backup of "
            f"{target.name} taken before the release's migrations were applied."
        )
    chosen = chosen or (fitting[0] if fitting else None)
    plan = build_plan(
        target_name=target.name, url_env_var=target.url_env_var, applied_versions=applied,
        release_migrations=migrations, rollbacks_dir=release.project.rollbacks_dir,
        backup=backup_choice(chosen) if chosen else None,
    )  # fmt: skip
    return plan, fitting


def rollback_plan_save(
    *,
    release: Release,
    target: Target,
    user: Any,
    backup_id: int | None = None,
    applied: list[str] | None = None,
) -> RollbackPlan:
    """Read the target's history (unless given), work out the plan and save it as evidence."""
    _require(user, Action.MANAGE_ROLLBACKS, release.project_id, "Only SREs and platform leads "
             "prepare rollback plans.")  # fmt: skip
    if target.project_id != release.project_id:
        raise RollbackError(f"The target {target.name} belongs to another project.")
    history = read_target_history(target) if applied is None else sorted(applied)
    plan, _ = plan_for(release=release, target=target, applied=history, backup_id=backup_id)
    if not plan.steps:
        raise RollbackError(" ".join(plan.warnings) or "There is nothing to roll back.")
    if plan.problems:
        raise RollbackError(" ".join(plan.problems))
    return _save(release=release, target=target, user=user, plan=plan)


@transaction.atomic
def _save(*, release: Release, target: Target, user: Any, plan: Plan) -> RollbackPlan:
    release = Release.objects.select_for_update().get(pk=release.pk)
    saved = RollbackPlan.objects.create(
        project=release.project, release=release, target=target,
        backup_id=plan.backup_id, steps=plan.steps, warnings=plan.warnings,
        last_good_version=plan.last_good_version or "",
        verified_target_version=plan.target_version or "",
        applied_versions=plan.applied_versions, content_digest=release.content_digest,
        created_by=user if actor_of(user).kind == "user"
        else None, created_by_name=actor_of(user).name[:200],
    )  # fmt: skip
    audit_record(
        actor=user, action="rollback_plan.save", obj=saved, release=release,
        data={"target": target.name, "last_good_version": saved.last_good_version,
              "verified_target_version": saved.verified_target_version,
              "steps": [_step_line(s) for s in saved.steps], "backup": plan.backup_id},
    )  # fmt: skip
    _plan_evidence(saved, user, status=Evidence.Status.INFO,
                   summary=f"rollback plan #{saved.pk} for {target.name}: "
                   f"{len(saved.steps)} step(s) back to {saved.last_good_version or 'none'}; "
                   "not rehearsed yet")  # fmt: skip
    return saved


def _step_line(step: dict[str, Any]) -> str:
    if step.get("kind") == "down":
        return f"down {step.get('file')} ({step.get('loses_text')})"
    return f"restore {step.get('file')} ({step.get('loses_text')})"


def _plan_evidence(plan: RollbackPlan, actor: Any, *, status: str, summary: str) -> None:
    release = Release.objects.select_for_update().get(pk=plan.release_id)
    for item in items_for_evidence(release, Evidence.Kind.ROLLBACK_PLAN):
        evidence_add(
            item=item, actor=actor, kind=Evidence.Kind.ROLLBACK_PLAN, status=status,
            summary=summary[:500], job=plan.rehearsal_job,
            # A rehearsal's result is for the content its job ran (checklists.proof).
            content_digest=(plan.rehearsal_job.content_digest or None)
            if plan.rehearsal_job is not None and status != Evidence.Status.INFO else None,
            data={"plan_id": plan.pk, "target": plan.target.name,
                  "last_good_version": plan.last_good_version,
                  "verified_target_version": plan.verified_target_version},
        )  # fmt: skip
    release_refresh(release=release, actor=actor, reason=f"rollback plan #{plan.pk}")


@transaction.atomic
def rehearsal_start(*, plan: RollbackPlan, user: Any) -> Job:
    """Queue a rehearsal of ``plan`` on a scratch database restored from its backup."""
    _require(user, Action.MANAGE_ROLLBACKS, plan.project_id, "Only SREs and platform leads "
             "rehearse rollbacks.")  # fmt: skip
    plan = (
        RollbackPlan.objects.select_for_update(of=("self",))
        .select_related("backup")
        .get(pk=plan.pk)
    )
    if plan.backup is None or plan.backup.is_deleted:
        raise RollbackError(
            "A rehearsal starts from a verified backup taken before the release: capture one, "
            "let its restore check pass, then save the plan again."
        )
    job = job_enqueue(
        kind=Job.Kind.REHEARSAL, project=plan.project, release=plan.release, target=plan.target,
        params={"plan_id": plan.pk}, created_by=user,
    )  # fmt: skip
    if job.already_active:
        return job
    plan.rehearsal_job = job
    plan.save(update_fields=["rehearsal_job"])
    audit_record(actor=user, action="rollback_plan.rehearse", obj=plan, release=plan.release_id,
                 data={"job": job.pk})  # fmt: skip
    return job


def rehearsal_record(*, job: Job) -> RollbackPlan | None:
    """A finished rehearsal marks its plan; a pass makes the plan's evidence pass."""
    if job.kind != Job.Kind.REHEARSAL or job.state == Job.State.CANCELLED:
        return None
    plan = RollbackPlan.objects.filter(pk=int((job.params or {}).get("plan_id") or 0)).first()
    if plan is None:
        return None
    plan = RollbackPlan.objects.select_for_update().select_related("target").get(pk=plan.pk)
    ok = job.state == Job.State.SUCCEEDED
    plan.rehearsal_state = RollbackPlan.Rehearsal.PASSED if ok else RollbackPlan.Rehearsal.FAILED
    plan.rehearsal_job = job
    plan.rehearsed_at = job.finished_at or timezone.now()
    plan.rehearsal = {"ok": ok, "summary": job.summary, **(job.result or {})}
    plan.save(update_fields=["rehearsal_state", "rehearsal_job", "rehearsed_at", "rehearsal"])
    actor = Actor.system(f"job #{job.pk}")
    # The change log and the checklist are every member's: the rehearsal's verdict alone
    # (it ran over production's rows; its words stay on the plan and the job, jobs.output).
    verdict = summary_for_all(job)
    audit_record(actor=actor, action="rollback_plan.rehearsal", obj=plan, release=plan.release_id,
                 data={"job": job.pk, "ok": ok, "summary": verdict})  # fmt: skip
    # The way back the runbook asks for is production's (§5.2): a plan rehearsed for
    # another target is shown on the step, passing nothing and failing nothing.
    status, where = for_production(
        plan.target,
        Evidence.Status.PASSED if ok else Evidence.Status.FAILED,
        "a plan for production",
    )
    production = plan.target.kind == Target.Kind.PRODUCTION
    if production and plan.content_digest and plan.content_digest != job.content_digest:
        # The plan reverts the files it was made for; files added or changed since are
        # not in it, so its rehearsal says nothing about the release as it is now.
        status = Evidence.Status.INFO
        where += (
            " (made for files that changed since: save the plan again and rehearse it; "
            "this rehearsal proves nothing)"
        )
    _plan_evidence(
        plan, actor, status=status, summary=f"rollback plan #{plan.pk} for {where}: {verdict}"
    )
    return plan
