"""Monitoring windows after production deploys, the health queries they run, their samples."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from migrations_ops.model_keys import project_key, release_key, target_key


def default_window_minutes() -> int:
    return int(settings.MONITORING_WINDOW_MINUTES)


class ProjectMonitoring(models.Model):
    """A project's monitoring settings; created with the default health queries on first use.

    Its existence records that the defaults were created once: a lead who disables or
    edits them does not see them come back.
    """

    project = models.OneToOneField(
        "migrations_ops.Project", on_delete=models.CASCADE, related_name="monitoring"
    )
    window_minutes = models.PositiveIntegerField(default=default_window_minutes)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Monitoring of {self.project_id}: {self.window_minutes} min"


class HealthQuery(models.Model):
    """One number read from the target; past its threshold, the window alerts.

    The SQL runs in a READ ONLY transaction with a statement timeout, as one statement
    over the extended protocol; its first column of the first row is the value. With
    ``delta`` the value is the difference from the previous sample (a counter such as
    ``pg_stat_database.xact_rollback``). Queries are disabled, never deleted, so their
    samples stay.
    """

    class Comparison(models.TextChoices):
        GT = "gt", ">"
        GTE = "gte", "≥"

    project = project_key("health_queries")
    name = models.CharField(max_length=80)
    sql = models.TextField()
    threshold = models.FloatField()
    comparison = models.CharField(max_length=3, choices=Comparison.choices, default=Comparison.GT)
    delta = models.BooleanField(
        default=False, help_text="Compare the change since the previous sample (for counters)."
    )
    enabled = models.BooleanField(default=True)
    builtin = models.CharField(max_length=40, blank=True)  # which default it started as
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project", "pk"]
        constraints = [
            # Queries are told apart by name on the panel and in alerts.
            models.UniqueConstraint(fields=["project", "name"], name="health_query_name_unique")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def rule(self) -> str:
        return f"{self.get_comparison_display()} {self.threshold:g}"

    def crosses(self, value: float) -> bool:
        if self.comparison == self.Comparison.GTE:
            return value >= self.threshold
        return value > self.threshold


class MonitoringWindow(models.Model):
    """The watch after one production deploy of a release.

    open: running, nothing crossed yet. alerted: a query crossed its threshold (it keeps
    sampling until ``ends_at``; a person decides what happens next). clean: ended with
    no alert, the release became deployed. closed_early: a person ended it with a reason
    (or the release left monitoring), the release became deployed if it still was
    monitoring. ``ended_at`` is set when sampling stops.
    """

    class State(models.TextChoices):
        OPEN = "open", "Open"
        CLEAN = "clean", "Ended clean"
        ALERTED = "alerted", "Alerted"
        CLOSED_EARLY = "closed_early", "Closed early"

    release = release_key("monitoring_windows")
    target = target_key("monitoring_windows")
    state = models.CharField(max_length=12, choices=State.choices, default=State.OPEN)
    started_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    started_by_name = models.CharField(max_length=200, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_by_name = models.CharField(max_length=200, blank=True)
    reason = models.TextField(blank=True)
    # Set when a worker claims the window for a sample, so two beats never sample it twice.
    last_sampled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            # One running window per release: a second monitoring_start returns it.
            models.UniqueConstraint(
                fields=["release"],
                condition=models.Q(ended_at__isnull=True),
                name="monitoring_one_running_window",
            ),
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("started_at")),
                name="monitoring_window_ends_after_start",
            ),
        ]
        indexes = [
            # The beat tick: running windows, and those whose end has come.
            models.Index(fields=["ended_at", "ends_at"], name="monitoring_running"),
        ]

    def __str__(self) -> str:
        return f"Monitoring #{self.pk} of release {self.release_id}"

    @property
    def running(self) -> bool:
        return self.ended_at is None


class HealthSample(models.Model):
    """One reading of one health query during a window: its value, or why there is none."""

    window = models.ForeignKey(MonitoringWindow, on_delete=models.CASCADE, related_name="samples")
    query = models.ForeignKey(HealthQuery, on_delete=models.PROTECT, related_name="samples")
    at = models.DateTimeField()
    value = models.FloatField(null=True, blank=True)
    raw = models.FloatField(null=True, blank=True)  # the counter itself, for delta queries
    ok = models.BooleanField()
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["window", "query", "at"]
        indexes = [
            # The panel and delta queries: one window's samples per query, by time.
            models.Index(fields=["window", "query", "at"], name="health_sample_series"),
        ]

    def __str__(self) -> str:
        return f"{self.query_id}@{self.at:%H:%M}: {self.value}"
