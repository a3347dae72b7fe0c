"""Deleting backups (the protected one refused) and S3 storage against a moto server."""

from __future__ import annotations

import hashlib
import shutil
import socket
from datetime import timedelta

import boto3
import pytest
from django.core.exceptions import ValidationError

from checklists.models import Release
from migrations_ops.backups.services import backup_capture, backup_delete, backup_download
from migrations_ops.models import BackupManifest, Job
from migrations_ops.pg.backup_manifest import ManifestFile
from release_portal.audit.models import AuditEvent
from tests.sre_fixtures import run_job, verified_backup

pytestmark = pytest.mark.usefixtures("transactional_db", "sent")


def test_it_refuses_to_delete_the_newest_verified_backup_of_a_deployed_release(
    production, release, target, sre, backup_dir
):
    newer = verified_backup(release, target, sre)
    # An older verified backup of the same release (a copy taken an hour earlier).
    older = BackupManifest.objects.get(pk=newer.pk)
    older.pk, older.job = None, None
    older.file_name = "20250101T000000Z_pre_migration.sql"
    older.file_key = f"ibimina/production/{older.file_name}"
    older.manifest_key = older.file_key + ".manifest.json"
    older.finished_at = newer.finished_at - timedelta(hours=1)
    older.save()
    shutil.copy(backup_dir / newer.file_key, backup_dir / older.file_key)
    shutil.copy(backup_dir / newer.manifest_key, backup_dir / older.manifest_key)
    Release.objects.filter(pk=release.pk).update(state=Release.State.DEPLOYED)

    with pytest.raises(ValidationError, match="newest verified backup of release"):
        backup_delete(backup=newer, user=sre)
    assert (backup_dir / newer.file_key).is_file()

    backup_delete(backup=older, user=sre)
    older.refresh_from_db()
    assert older.is_deleted and older.deleted_by_name == "sre"
    assert not (backup_dir / older.file_key).exists()
    assert not (backup_dir / older.manifest_key).exists()
    assert BackupManifest.objects.filter(pk=older.pk).exists()  # the history row stays
    assert AuditEvent.objects.filter(action="backup.delete", object_id=str(older.pk)).exists()
    with pytest.raises(ValidationError, match="Already deleted"):
        backup_delete(backup=older, user=sre)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3(settings, monkeypatch):
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    settings.BACKUP_STORAGE = "s3"
    settings.BACKUP_S3_BUCKET = "rp-backups"
    settings.BACKUP_S3_ENDPOINT_URL = f"http://127.0.0.1:{port}"
    settings.BACKUP_S3_REGION = "us-east-1"
    settings.BACKUP_S3_PREFIX = "portal/"
    client = boto3.client("s3", endpoint_url=settings.BACKUP_S3_ENDPOINT_URL,
                          region_name="us-east-1")  # fmt: skip
    client.create_bucket(Bucket="rp-backups")
    yield client
    server.stop()


def test_it_stores_verifies_downloads_and_deletes_backups_in_s3(
    production, release, target, sre, s3, backup_dir
):
    backup = verified_backup(release, target, sre)
    assert backup.storage == "s3" and backup.location == "s3://rp-backups/portal/"
    assert backup.verify_state == BackupManifest.Verify.PASSED, backup.verification
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="rp-backups")["Contents"]}
    assert f"portal/{backup.file_key}" in keys and f"portal/{backup.manifest_key}" in keys
    assert "portal/ibimina/CHANGELOG.md" in keys
    assert not backup_dir.exists()  # nothing kept on the worker's disk
    stored = s3.get_object(Bucket="rp-backups", Key=f"portal/{backup.manifest_key}")
    manifest = ManifestFile.from_json(stored["Body"].read().decode())
    assert manifest.verification is not None and manifest.verification.ok  # uploaded back

    chunks, size, name = backup_download(backup=backup, user=sre)
    data = b"".join(chunks)
    assert len(data) == size == backup.size and name == backup.file_name
    assert hashlib.sha256(data).hexdigest() == backup.sha256

    Release.objects.filter(pk=release.pk).update(state=Release.State.DRAFT)
    backup_delete(backup=backup, user=sre)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="rp-backups").get("Contents", [])}
    assert f"portal/{backup.file_key}" not in keys


def test_it_fails_the_backup_when_the_bucket_is_missing(
    production, release, target, sre, s3, settings
):
    settings.BACKUP_S3_BUCKET = "rp-no-such-bucket"
    job = run_job(backup_capture(release=release, target=target, user=sre))
    assert job.state == Job.State.FAILED
    assert "could not be stored" in job.summary and "NoSuchBucket" in job.summary
    assert not BackupManifest.objects.exists()
