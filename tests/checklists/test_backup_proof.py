"""A backup or a rollback plan proves its runbook step (§5, §6) only for production:
a backup of staging, or a plan rehearsed for staging, says nothing about the way back
from a production deployment; and a verified backup deleted before the deployment no
longer proves the step, so the gate closes again.

The backups and rehearsals are job rows ended through the real end hooks
(backup_record_verification, rehearsal_record); the pg_dump and restore themselves are
tested in tests/migrations_ops."""

from __future__ import annotations

import pytest
from django.utils import timezone

from checklists.deployments.gate import gate_status
from checklists.models import Evidence
from checklists.proof import check_item
from checklists.services.errors import ChecklistError
from checklists.services.items import item_tick
from checklists.services.migrations import release_upload_archive
from migrations_ops.backups.services import backup_delete, backup_record_verification
from migrations_ops.models import BackupManifest, Job, RollbackPlan, Target
from migrations_ops.rollback.services import rehearsal_record, rollback_plan_save
from tests.checklists.conftest import item
from tests.checklists.reports.factories import JobFactory
from tests.factories import (
    DEMO_MIGRATIONS,
    TargetFactory,
    settle_checklist,
    sign_off,
    supabase_archive,
)

BACKUP = "manual-supabase-backup-captured-logged"
ROLLBACK = "rollback-commands-prepared-timestamp-verified"


@pytest.fixture
def production(project):
    return TargetFactory(project=project, name="production", kind=Target.Kind.PRODUCTION)


@pytest.fixture
def staging(project):
    return TargetFactory(project=project, name="staging", kind=Target.Kind.STAGING)


def ended_job(**fields) -> Job:
    """A job that succeeded for the release's content (its end hooks are called by hand)."""
    job: Job = JobFactory(**fields)  # type: ignore[assignment]
    return job


def verified_backup(release, target, folder) -> BackupManifest:
    """A backup of ``target`` whose restore check passed, recorded by the real hook."""
    now = timezone.now()
    job = ended_job(
        release=release, kind="backup", target=target, summary="backup taken",
        content_digest=release.content_digest,
    )  # fmt: skip
    name = f"{now:%Y%m%dT%H%M%S%fZ}_pre_migration.sql"
    backup = BackupManifest.objects.create(
        project=release.project, release=release, target=target, job=job,
        location=str(folder), file_name=name, file_key=f"ibimina/{target.name}/{name}",
        manifest_key=f"ibimina/{target.name}/{name}.manifest.json", sha256="0" * 64, size=10,
        started_at=now, finished_at=now,
    )  # fmt: skip
    verification = {"ok": True, "summary": "4 tables match", "verified_at": now.isoformat()}
    check = ended_job(
        release=release, kind="restore_check", target=target, summary="restored",
        params={"backup_id": backup.pk}, content_digest=release.content_digest,
        result={"verification": verification},
    )  # fmt: skip
    backup_record_verification(job=check)
    backup.refresh_from_db()
    assert backup.verify_state == BackupManifest.Verify.PASSED
    return backup


def approved_with_backup(release, target, lead, sre, folder) -> BackupManifest:
    """``release`` approved with a verified backup of ``target`` proving its backup step
    (every other item settled by ``lead``); the gate is open. Returns the backup."""
    settle_checklist(release, lead, skip=(BACKUP,))
    backup = verified_backup(release, target, folder)
    item_tick(item=item(release, BACKUP), user=sre)
    release.refresh_from_db()
    sign_off(release, lead)
    release.refresh_from_db()
    assert gate_status(release).open
    return backup


def rehearsed_plan(release, target, user) -> RollbackPlan:
    plan = RollbackPlan.objects.create(
        project=release.project, release=release, target=target,
        steps=[{"kind": "down", "reverts": ["20250102000000"]}], created_by=user,
    )  # fmt: skip
    job = ended_job(
        release=release, kind="rehearsal", target=target, summary="rehearsal passed",
        params={"plan_id": plan.pk}, content_digest=release.content_digest,
    )  # fmt: skip
    rehearsal_record(job=job)
    return plan


def test_a_verified_backup_of_production_proves_the_step(
    release_with_files, production, sre, tmp_path
):
    release = release_with_files
    verified_backup(release, production, tmp_path)
    assert check_item(item(release, BACKUP)).passed
    assert item_tick(item=item(release, BACKUP), user=sre).state == "done"


def test_a_backup_of_staging_is_no_proof_of_the_production_backup(
    release_with_files, staging, sre, tmp_path
):
    release = release_with_files
    verified_backup(release, staging, tmp_path)
    backup_step = item(release, BACKUP)
    # Shown on the item, as what it is, but it proves nothing about production.
    shown = backup_step.evidence.get(kind=Evidence.Kind.BACKUP)
    assert "staging" in shown.summary
    assert not check_item(backup_step).passed
    with pytest.raises(ChecklistError, match="needs proof"):
        item_tick(item=backup_step, user=sre)


def test_a_rollback_plan_rehearsed_for_staging_is_no_proof_for_production(
    release_with_files, staging, production, sre
):
    release = release_with_files
    rehearsed_plan(release, staging, sre)
    assert not check_item(item(release, ROLLBACK)).passed
    with pytest.raises(ChecklistError, match="needs proof"):
        item_tick(item=item(release, ROLLBACK), user=sre)
    rehearsed_plan(release, production, sre)
    assert check_item(item(release, ROLLBACK)).passed


def test_deleting_the_verified_backup_closes_the_gate_again(
    release_with_files, production, platform_lead, sre, tmp_path
):
    release = release_with_files
    backup = approved_with_backup(release, production, platform_lead, sre, tmp_path)

    backup_delete(backup=backup, user=sre)

    release.refresh_from_db()
    gate = gate_status(release)
    assert not gate.open
    assert [c["step"] for c in gate.failed_checks] == [BACKUP]
    assert any(backup.file_name in f["summary"] for f in gate.failed_checks[0]["failures"])
    assert [s["kind"] for s in gate.stale_signoffs] == ["release_owner"]
    assert release.state != "approved"


def test_deleting_an_older_backup_keeps_the_newer_ones_proof(
    release_with_files, production, sre, tmp_path
):
    release = release_with_files
    older = verified_backup(release, production, tmp_path)
    verified_backup(release, production, tmp_path)
    backup_delete(backup=older, user=sre)
    assert check_item(item(release, BACKUP)).passed


def test_a_plan_made_for_other_files_is_no_proof_of_the_new_ones(
    release_with_files, production, sre, release_engineer, tmp_path
):
    """The plan reverts the files it was made for: a migration added since is not in it,
    so a rehearsal of it proves nothing about the release as it is now."""
    release = release_with_files
    backup = verified_backup(release, production, tmp_path)
    plan = rollback_plan_save(
        release=release, target=production, user=sre, backup_id=backup.pk,
        applied=["20250101000000", "20250102000000"],
    )  # fmt: skip
    grown = {**DEMO_MIGRATIONS, "migrations/20250103000000_drop_members.sql": "drop table x;\n"}
    release_upload_archive(
        release=release, data=supabase_archive(grown), filename="s.zip", actor=release_engineer
    )
    release.refresh_from_db()
    job = ended_job(
        release=release, kind="rehearsal", target=production, summary="rehearsal passed",
        params={"plan_id": plan.pk}, content_digest=release.content_digest,
    )  # fmt: skip
    rehearsal_record(job=job)
    step = item(release, ROLLBACK)
    assert not check_item(step).passed
    assert "save the plan again" in step.evidence.latest("created_at").summary


def test_deleting_the_backup_a_plan_restores_from_withdraws_the_plans_proof(
    release_with_files, production, sre, tmp_path
):
    release = release_with_files
    older = verified_backup(release, production, tmp_path)
    plan = rollback_plan_save(
        release=release, target=production, user=sre, backup_id=older.pk,
        applied=["20250101000000", "20250102000000"],
    )  # fmt: skip
    assert any(s["kind"] == "restore" and s["backup_id"] == older.pk for s in plan.steps)
    rehearsal_record(
        job=ended_job(
            release=release, kind="rehearsal", target=production, summary="rehearsal passed",
            params={"plan_id": plan.pk}, content_digest=release.content_digest,
        )
    )  # fmt: skip
    verified_backup(release, production, tmp_path)  # the backup step stays proven
    assert check_item(item(release, ROLLBACK)).passed

    backup_delete(backup=older, user=sre)

    assert check_item(item(release, BACKUP)).passed
    rollback = check_item(item(release, ROLLBACK))
    assert not rollback.passed
    assert older.file_name in rollback.failures[0]["summary"]
