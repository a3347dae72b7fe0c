"""Deployments, the deploy lock, freeze windows, break-glass and the peer-review record.

Imported at the end of ``checklists.models`` so Django finds them; they refer to the
other models by name only, so this module never imports ``checklists.models``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class FreezeWindow(models.Model):
    """A time when production deployments of a project wait (a launch, a holiday...)."""

    project = models.ForeignKey(
        "migrations_ops.Project", on_delete=models.CASCADE, related_name="freeze_windows"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=300)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="freeze_window_ends_after_start",
            )
        ]
        indexes = [
            # The gate and the freeze page: a project's windows that are not over yet.
            models.Index(fields=["project", "ends_at"], name="freeze_by_project_end"),
        ]

    def __str__(self) -> str:
        return f"Freeze {self.starts_at:%Y-%m-%d %H:%M} to {self.ends_at:%Y-%m-%d %H:%M} UTC"


class GateOverride(models.Model):
    """Break-glass: a platform lead opened the gate for one release digest anyway.

    It opens the gate only for the digest it was given for, until it expires or is
    resolved; and it stays on the release as an open follow-up until a lead resolves it
    with a note. It is not a checklist item, so it never changes the release digest.
    """

    release = models.ForeignKey(
        "checklists.Release", on_delete=models.CASCADE, related_name="gate_overrides"
    )
    digest = models.CharField(max_length=64)
    reason = models.TextField()
    # What the gate was missing when the glass was broken (items, sign-offs, freeze).
    bypassed = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution_note = models.TextField(blank=True)
    # With the project's "break-glass needs a second platform lead" on, the override opens
    # the gate only once a second lead confirmed it.
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    needs_confirmation = models.BooleanField(default=False)

    class Meta:
        ordering = ["release", "-created_at"]
        indexes = [
            # The gate: a release's unresolved overrides.
            models.Index(fields=["release", "resolved_at"], name="override_by_release"),
        ]

    def __str__(self) -> str:
        return f"Break-glass #{self.pk} on release {self.release_id}"


class Deployment(models.Model):
    """One deployment (or rollback) of a release to a target, as CI reports it.

    While it is ``started`` it holds the target's deploy lock: a partial unique index
    allows one started deployment per target, whoever asks and however fast.
    """

    class Kind(models.TextChoices):
        DEPLOY = "deploy", "Deployment"
        ROLLBACK = "rollback", "Rollback"

    class Status(models.TextChoices):
        STARTED = "started", "Started"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    release = models.ForeignKey(
        "checklists.Release", on_delete=models.PROTECT, related_name="deployments"
    )
    target = models.ForeignKey(
        "migrations_ops.Target", on_delete=models.PROTECT, related_name="deployments"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.DEPLOY)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.STARTED)
    # The release digest that was deployed (the gate's approved digest for production).
    digest = models.CharField(max_length=64)
    override = models.ForeignKey(
        GateOverride, null=True, blank=True, on_delete=models.PROTECT, related_name="deployments"
    )
    run_url = models.URLField(max_length=500, blank=True)
    log_url = models.URLField(max_length=500, blank=True)
    started_by_name = models.CharField(max_length=200)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_by_name = models.CharField(max_length=200, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # What the release state moved from when this deployment started, for the record.
    release_state_before = models.CharField(max_length=12, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["target"],
                condition=models.Q(status="started"),
                name="deployment_one_active_per_target",
            ),
        ]
        indexes = [
            # A release's deployments, newest first (release API, release page).
            models.Index(fields=["release", "-started_at"], name="deployment_by_release"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} of release {self.release_id}"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.STARTED

    @property
    def outcome(self) -> str:
        """What happened, in words that say both kind and status ("rollback failed"): a
        rollback's status alone ("failed") or its kind alone ("rolled back") misleads."""
        return OUTCOMES[(self.kind, self.status)]


# By (kind, status) as stored.
OUTCOMES = {
    ("deploy", "started"): "deploying",
    ("deploy", "succeeded"): "deployed",
    ("deploy", "failed"): "deploy failed",
    ("rollback", "started"): "rolling back",
    ("rollback", "succeeded"): "rolled back",
    ("rollback", "failed"): "rollback failed",
}


class PeerReview(models.Model):
    """The pull request that carried the release's migrations (runbook §2 "Peer review")."""

    release = models.ForeignKey(
        "checklists.Release", on_delete=models.CASCADE, related_name="peer_reviews"
    )
    url = models.URLField(max_length=500)
    approvals = models.PositiveIntegerField()
    template_checklist_complete = models.BooleanField()
    # The commit CI found the PR by (the release's, or the report was refused) and the
    # release's content digest then: a review is of that content only (blank: reported
    # before reports named their commit).
    commit_sha = models.CharField(max_length=40, blank=True)
    content_digest = models.CharField(max_length=64, blank=True)
    reported_by_name = models.CharField(max_length=200)
    reported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["release", "-reported_at"]

    def __str__(self) -> str:
        return self.url

    @property
    def is_complete(self) -> bool:
        return self.approvals > 0 and self.template_checklist_complete

    @property
    def is_current(self) -> bool:
        """Reported for the release's commit and files as they are now."""
        return bool(self.content_digest) and self.content_digest == self.release.content_digest
