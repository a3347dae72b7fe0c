"""Capture → manifest row → restore check → verified evidence and CHANGELOG.md, for real."""

from __future__ import annotations

import os

import pytest

from checklists.models import Evidence
from checklists.services.items import items_for_evidence
from migrations_ops.backups.services import backup_capture, backup_verify
from migrations_ops.models import BackupManifest, Job
from release_portal.audit.models import AuditEvent
from tests.sre_fixtures import queued, run_job

pytestmark = pytest.mark.usefixtures("transactional_db", "sent")


def test_it_records_a_verified_backup_as_evidence(production, release, target, sre, backup_dir):
    job = run_job(backup_capture(release=release, target=target, user=sre, snapshot_ref="manual-1"))
    assert job.state == Job.State.SUCCEEDED, job.summary

    backup = BackupManifest.objects.get(job=job)
    assert backup.verify_state == BackupManifest.Verify.PENDING
    assert backup.applied_versions == ["20250101000000", "20250102000000"]
    assert backup.pending_versions == ["20250103000000", "20250104000000"]
    assert {t["table"]: t["rows"] for t in backup.tables}["orders"] == 4000
    assert (backup_dir / backup.file_key).is_file()
    assert (backup_dir / backup.manifest_key).is_file()
    assert backup.snapshot_ref == "manual-1"
    item = items_for_evidence(release, "backup")[0]
    assert not item.evidence.filter(kind=Evidence.Kind.BACKUP).exists()  # not verified yet
    snapshot = item.evidence.get(kind=Evidence.Kind.SNAPSHOT_REF)
    assert "manual-1" in snapshot.summary

    check = run_job(queued(Job.Kind.RESTORE_CHECK))
    assert check.state == Job.State.SUCCEEDED, check.summary
    backup.refresh_from_db()
    assert backup.verify_state == BackupManifest.Verify.PASSED
    assert backup.verification["tables_checked"] == 4
    evidence = item.evidence.get(kind=Evidence.Kind.BACKUP)
    assert evidence.status == Evidence.Status.PASSED and backup.file_name in evidence.summary

    changelog = (backup_dir / "ibimina" / "CHANGELOG.md").read_text()
    assert backup.sha256 in changelog and "yes," in changelog and "manual-1" in changelog
    assert "Invoices and phones" in changelog and "`20250103000000`" in changelog
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"backup.capture", "backup.record", "backup.verify", "evidence.add"} <= actions


def test_it_fails_the_verification_of_a_file_changed_after_capture(
    production, release, target, sre
):
    run_job(backup_capture(release=release, target=target, user=sre))
    run_job(queued(Job.Kind.RESTORE_CHECK))
    backup = BackupManifest.objects.get()
    assert backup.verify_state == BackupManifest.Verify.PASSED
    path = backup.location + "/" + backup.file_key
    with open(path, "r+b") as f:
        f.seek(200)
        f.write(b"X")

    check = run_job(backup_verify(backup=backup, user=sre))
    backup.refresh_from_db()
    assert check.ok is False
    assert backup.verify_state == BackupManifest.Verify.FAILED
    assert "altered or damaged" in backup.verification["summary"]
    item = items_for_evidence(release, "backup")[0]
    newest = item.evidence.filter(kind=Evidence.Kind.BACKUP).order_by("-created_at").first()
    assert newest.status == Evidence.Status.FAILED


def test_it_fails_the_verification_when_the_file_is_gone(production, release, target, sre):
    run_job(backup_capture(release=release, target=target, user=sre))
    backup = BackupManifest.objects.get()
    os.remove(backup.location + "/" + backup.file_key)
    check = run_job(queued(Job.Kind.RESTORE_CHECK))
    backup.refresh_from_db()
    assert check.ok is False
    assert backup.verify_state == BackupManifest.Verify.FAILED
    assert "cannot be read" in backup.verification["summary"]
