"""Rollback plans (runbook §5.2): the way back for one release on one target.

Imported at the end of ``migrations_ops.models`` so Django finds them.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from migrations_ops.model_keys import project_key, release_key, target_key


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
    # The release's content digest when the plan was saved: the files it reverts. A
    # rehearsal proves the plan only for them ("" for plans saved before it was kept).
    content_digest = models.CharField(max_length=64, blank=True, default="")
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
        # The change log keeps this as the plan's name: words, not ids (its release is
        # named beside it there).
        return f"Rollback plan #{self.pk} for {self.target.name}"

    @property
    def uses_restore(self) -> bool:
        return any(step.get("kind") == "restore" for step in self.steps)
