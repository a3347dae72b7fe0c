"""Incidents (runbook §5.2): a failed deployment or an alert, handled step by step.

Imported at the end of ``migrations_ops.models`` so Django finds them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from migrations_ops.model_keys import project_key, release_key, target_key


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
