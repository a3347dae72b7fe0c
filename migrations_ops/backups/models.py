"""Backups (runbook §5.1): one pg_dump of a target and what its restore check found.

Imported at the end of ``migrations_ops.models`` so Django finds them.
"""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.db import models

from migrations_ops.model_keys import project_key, target_key


class BackupManifestQuerySet(models.QuerySet["BackupManifest"]):
    def verified(self) -> BackupManifestQuerySet:
        """Backups a restore check passed whose files are still kept: the ones a rollback
        may restore (``BackupManifest.is_verified`` in SQL)."""
        return self.filter(verify_state=BackupManifest.Verify.PASSED, deleted_at__isnull=True)


class BackupManifest(models.Model):
    """One pg_dump backup of a target (runbook §5.1 step 2) and what its restore check found.

    Made from a finished backup job (its manifest JSON, written beside the dump, is kept
    whole in ``manifest``); a restore_check job fills in the verification. A backup counts
    as captured only once ``verify_state`` is passed. Deleting removes the files and keeps
    this row (``deleted_at``) as history.
    """

    class Storage(models.TextChoices):
        LOCAL = "local", "Local folder"
        S3 = "s3", "S3 bucket"

    class Verify(models.TextChoices):
        PENDING = "pending", "Not verified yet"
        PASSED = "passed", "Verified"
        FAILED = "failed", "Verification failed"

    project = project_key("backups")
    release = models.ForeignKey(
        "checklists.Release", null=True, blank=True, on_delete=models.PROTECT,
        related_name="backups",
    )  # fmt: skip
    target = target_key("backups")
    job = models.OneToOneField(
        "migrations_ops.Job", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="backup_made",
    )  # fmt: skip
    schemas = ArrayField(models.CharField(max_length=63), default=list)
    storage = models.CharField(max_length=8, choices=Storage.choices, default=Storage.LOCAL)
    # Where the files are: the folder (local) or s3://bucket/prefix; keys are relative to it.
    location = models.CharField(max_length=500)
    file_name = models.CharField(max_length=255)
    file_key = models.CharField(max_length=500)
    manifest_key = models.CharField(max_length=500)
    format = models.CharField(max_length=8, default="plain")
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    applied_versions = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    pending_versions = ArrayField(
        models.CharField(max_length=64), null=True, blank=True
    )  # None: not known
    tables = models.JSONField(default=list, blank=True)  # [{schema, table, rows, rls..}]
    total_rows = models.PositiveBigIntegerField(default=0)
    pg_dump_version = models.CharField(max_length=40, blank=True)
    server_version = models.CharField(max_length=40, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    manifest = models.JSONField(default=dict, blank=True)
    # The manual Supabase dashboard backup (§5.1 step 1), entered by the SRE.
    snapshot_ref = models.CharField(max_length=300, blank=True)
    snapshot_ref_by_name = models.CharField(max_length=200, blank=True)
    snapshot_ref_at = models.DateTimeField(null=True, blank=True)
    verify_state = models.CharField(max_length=8, choices=Verify.choices, default=Verify.PENDING)
    verified_at = models.DateTimeField(null=True, blank=True)
    verification = models.JSONField(default=dict, blank=True)
    verify_job = models.ForeignKey(
        "migrations_ops.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by_name = models.CharField(max_length=200, blank=True)

    objects = BackupManifestQuerySet.as_manager()

    class Meta:
        ordering = ["-finished_at", "-pk"]
        indexes = [
            # The backups list of a target, newest first, and "newest verified of a target".
            models.Index(fields=["target", "-finished_at"], name="backup_by_target"),
            # The release panel: a release's backups, newest first.
            models.Index(fields=["release", "-finished_at"], name="backup_by_release"),
            # The backups page across a person's projects, newest first.
            models.Index(fields=["project", "-finished_at"], name="backup_by_project"),
        ]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.target.name})"  # the change log keeps it: words

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def is_verified(self) -> bool:
        """A restore check passed and the files are kept: ``BackupManifest.objects.verified()``."""
        return self.verify_state == self.Verify.PASSED and not self.is_deleted

    @property
    def newest_applied(self) -> str | None:
        return self.applied_versions[-1] if self.applied_versions else None

    @property
    def storage_place(self) -> str:
        """Where the files are kept, in words for the people reading the backup's page.

        Never ``location`` of a local folder: a server path tells a reader nothing they
        can use (the dump is downloaded from the page) and tells everyone how the portal's
        machine is laid out. An S3 location is a bucket's address, not a server path.
        """
        if self.storage == self.Storage.S3:
            return f"the S3 bucket {self.location}"
        return "the portal's local backup folder"

    @property
    def differences(self) -> list[dict[str, Any]]:
        return list((self.verification or {}).get("differences") or [])
