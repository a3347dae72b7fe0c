"""The SRE side of the runbook (§5): backups, rollback plans, incidents."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from migrations_ops.models.projects import project_key, release_key, target_key


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
        return f"{self.file_name} ({self.target_id})"

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
    def differences(self) -> list[dict[str, Any]]:
        return list((self.verification or {}).get("differences") or [])


class RollbackPlan(models.Model):
    """The §5.2 rollback path for one release on one target, saved as evidence.

    ``steps`` (see migrations_ops.pg.rollback_plan) are down scripts in reverse version order,
    or one restore from a verified backup where a down script is missing; each names what
    it loses and the commands a person would run by hand. A passing rehearsal makes the
    plan's evidence pass.
    """

    class Rehearsal(models.TextChoices):
        NONE = "none", "Not rehearsed"
        PASSED = "passed", "Rehearsal passed"
        FAILED = "failed", "Rehearsal failed"

    project = project_key("rollback_plans")
    release = release_key("rollback_plans")
    target = target_key("rollback_plans")
    backup = models.ForeignKey(
        "migrations_ops.BackupManifest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="plans",
    )
    steps = models.JSONField(default=list)
    warnings = models.JSONField(default=list, blank=True)
    last_good_version = models.CharField(max_length=64, blank=True)
    # The target's newest applied version when the plan was saved ("timestamp verified").
    verified_target_version = models.CharField(max_length=64, blank=True)
    applied_versions = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    rehearsal_state = models.CharField(
        max_length=8, choices=Rehearsal.choices, default=Rehearsal.NONE
    )
    rehearsal_job = models.ForeignKey(
        "migrations_ops.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rehearsed_at = models.DateTimeField(null=True, blank=True)
    rehearsal = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            # A release's plans for a target, newest first (the current plan is the newest).
            models.Index(fields=["release", "target", "-created_at"], name="plan_by_release"),
            # The rollbacks list of a project, newest first.
            models.Index(fields=["project", "-created_at"], name="plan_by_project"),
        ]

    def __str__(self) -> str:
        return f"Rollback plan #{self.pk} for release {self.release_id} on {self.target_id}"

    @property
    def uses_restore(self) -> bool:
        return any(step.get("kind") == "restore" for step in self.steps)


class Incident(models.Model):
    """A failed deployment or an alert handled by the runbook's §5.2, step by step.

    Every action is a timeline entry (IncidentEntry) and an audit event. Closing needs a
    postmortem link.
    """

    class State(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    class Trigger(models.TextChoices):
        FAILED_DEPLOYMENT = "failed_deployment", "Failed deployment"
        MONITORING_ALERT = "monitoring_alert", "Monitoring alert"
        OTHER = "other", "Other"

    project = project_key("incidents")
    release = release_key("incidents")
    target = target_key("incidents")
    title = models.CharField(max_length=200)
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    state = models.CharField(max_length=8, choices=State.choices, default=State.OPEN)
    maintenance_mode = models.BooleanField(default=False)
    error_text = models.TextField(blank=True)
    # The target's history as read live: {"read_at", "history": [..], "last_good", "error"}.
    assessment = models.JSONField(default=dict, blank=True)
    plan = models.ForeignKey(
        "migrations_ops.RollbackPlan",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="incidents",
    )
    postmortem_url = models.URLField(max_length=500, blank=True)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    opened_by_name = models.CharField(max_length=200, blank=True)
    opened_at = models.DateTimeField(auto_now_add=True)
    closed_by_name = models.CharField(max_length=200, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-pk"]
        indexes = [
            # The incidents list of a project by state, newest first.
            models.Index(fields=["project", "state", "-opened_at"], name="incident_by_project"),
            # A release's incidents (release page, and "is one open already?").
            models.Index(fields=["release", "state"], name="incident_by_release"),
        ]

    def __str__(self) -> str:
        return f"Incident #{self.pk}: {self.title}"

    @property
    def is_open(self) -> bool:
        return self.state == self.State.OPEN


class IncidentEntry(models.Model):
    """One line of an incident's timeline: who did what, when, with the job it started."""

    class Kind(models.TextChoices):
        OPENED = "opened", "Opened"
        MAINTENANCE = "maintenance", "Maintenance mode"
        ASSESSMENT = "assessment", "Assessment"
        PLAN = "plan", "Rollback plan"
        JOB = "job", "Job"
        JOB_END = "job_end", "Job finished"
        STATUS = "status", "Status update"
        CLOSED = "closed", "Closed"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="entries")
    at = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    text = models.TextField()
    actor_name = models.CharField(max_length=200, blank=True)
    job = models.ForeignKey(
        "migrations_ops.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        # The job foreign key's own index answers "which incident started this job?".
        ordering = ["incident", "at", "pk"]

    def __str__(self) -> str:
        return f"{self.incident_id} {self.get_kind_display()}: {self.text[:60]}"
