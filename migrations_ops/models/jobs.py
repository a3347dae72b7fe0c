"""Jobs and their log: what the Celery workers run for a release or a target."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.expressions import RawSQL
from django.utils import timezone

from migrations_ops.models.projects import Target, project_key


class JobQuerySet(models.QuerySet["Job"]):
    def held(self, job_id: int, attempt: int) -> JobQuerySet:
        """The job while attempt ``attempt`` still holds it: the fencing token of
        ``migrations_ops.jobs.lease``. Every write a worker makes to its running job
        (heartbeat, log, scratch database, finish) is an UPDATE of this, so a worker the
        reaper gave up on changes nothing (the row count says so)."""
        return self.filter(pk=job_id, state="running", attempts=attempt)


class Job(models.Model):
    """One run of a runner. The row is the truth; a Celery message only says "job N is ready".

    A worker claims a queued job with one conditional UPDATE, holds a lease it renews by
    heartbeat, and writes JobLogLines as it goes. Beat's sweep re-sends queued jobs whose
    message was lost; its reaper fails or re-queues jobs whose lease ran out.
    """

    class Kind(models.TextChoices):
        ORDER = "order", "Migration order"
        DRY_RUN = "dry_run", "Dry run on staging"
        PENDING = "pending", "Pending or failed migrations"
        DRIFT = "drift", "Schema drift"
        SECRETS = "secrets", "Secrets present"
        COMMANDS = "commands", "Lint, typecheck and tests"
        RLS = "rls", "RLS tests"
        FIXTURES = "fixtures", "RLS fixtures vs policies"
        BACKUP = "backup", "Backup"
        RESTORE_CHECK = "restore_check", "Restore check"
        APPLY = "apply", "Apply migrations"
        ROLLBACK = "rollback", "Rollback"
        REHEARSAL = "rehearsal", "Rollback rehearsal"
        RISK = "risk", "Release risk: locks, rewrites, data loss"
        ACCESS = "access", "RLS access matrix"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        TIMED_OUT = "timed_out", "Timed out"

    ACTIVE_STATES = (State.QUEUED, State.RUNNING)
    FINAL_STATES = (State.SUCCEEDED, State.FAILED, State.CANCELLED, State.TIMED_OUT)

    # Not stored: set by job_enqueue when it returned a job that was already queued or
    # running instead of creating one ("already running: job #N").
    already_active: bool = False

    project = project_key("jobs")
    release = models.ForeignKey(
        "checklists.Release", null=True, blank=True, on_delete=models.PROTECT, related_name="jobs"
    )
    target = models.ForeignKey(
        Target, null=True, blank=True, on_delete=models.PROTECT, related_name="jobs"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    queue = models.CharField(max_length=20, default="checks")
    params = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=2)
    worker = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)  # last time a message was sent
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)
    ok = models.BooleanField(null=True)
    summary = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_name = models.CharField(max_length=200, blank=True)
    # The release's content digest (commit + files) when the job was created: its
    # evidence belongs to that content.
    content_digest = models.CharField(max_length=64, blank=True)
    # The bundle the job was queued for (kinds that pin one, ``JobKind.pins_bundle``): every
    # attempt, the reaper's too, unpacks exactly this one, whatever was uploaded since.
    bundle = models.ForeignKey(
        "checklists.Bundle", null=True, blank=True, on_delete=models.PROTECT, related_name="jobs"
    )
    # Scratch databases the job created and has not dropped yet (the reaper drops them).
    scratch_databases = ArrayField(models.CharField(max_length=63), default=list, blank=True)
    # One entry per attempt, written with the claim and the attempt's end (never lost
    # with a killed worker's buffered log): {"attempt", "worker", "started_at",
    # "ended_at", "outcome"}, times as ISO 8601 from the database's clock.
    attempt_history = models.JSONField(default=list, blank=True)
    log_count = models.PositiveIntegerField(default=0)
    log_bytes = models.PositiveBigIntegerField(default=0)
    log_truncated = models.BooleanField(default=False)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # A double click, two people, or CI and a person at once: one active job of a
            # kind per release and target.
            models.UniqueConstraint(
                fields=["kind", "release", "target"],
                condition=models.Q(state__in=["queued", "running"]),
                nulls_distinct=False,
                name="job_one_active_per_kind",
            ),
        ]
        indexes = [
            # The reaper: running jobs whose lease ran out.
            models.Index(fields=["state", "lease_expires_at"], name="job_by_lease"),
            # The sweep: queued jobs whose message was sent long ago.
            models.Index(fields=["state", "enqueued_at"], name="job_by_enqueue"),
            # A release's jobs, newest first.
            models.Index(fields=["release", "-created_at"], name="job_by_release"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE_STATES

    @property
    def attempt_rows(self) -> list[dict[str, Any]]:
        """Each attempt with its worker, start and end (datetimes), oldest first."""
        rows = []
        for entry in self.attempt_history or []:
            rows.append(
                {
                    "attempt": entry.get("attempt"),
                    "worker": entry.get("worker", ""),
                    "started_at": _when(entry.get("started_at")),
                    "ended_at": _when(entry.get("ended_at")),
                    "outcome": entry.get("outcome", ""),
                }
            )
        return rows

    @property
    def duration(self) -> timedelta | None:
        """Run time of the last attempt (so far, while it runs)."""
        if self.started_at is None:
            return None
        end = self.finished_at or (timezone.now() if self.state == self.State.RUNNING else None)
        return end - self.started_at if end else None


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def attempt_started(worker: str) -> RawSQL:
    """``attempt_history`` with the attempt a claim starts (in the claim's own UPDATE,
    which also adds one to ``attempts``: the expression sees the old count)."""
    return RawSQL(
        "attempt_history || jsonb_build_array(jsonb_build_object("
        "'attempt', attempts + 1, 'worker', %s::text, 'started_at', now()))",
        [worker[:200]],
    )


def attempt_ended(outcome: str) -> RawSQL:
    """``attempt_history`` with its last attempt ended now, saying how."""
    return RawSQL(
        "CASE WHEN jsonb_array_length(attempt_history) = 0 THEN attempt_history "
        "ELSE jsonb_set(attempt_history, "
        "ARRAY[(jsonb_array_length(attempt_history) - 1)::text], "
        "(attempt_history -> -1) || jsonb_build_object('ended_at', now(), 'outcome', %s::text)) "
        "END",
        [outcome[:300]],
    )


class JobLogLine(models.Model):
    """One line of a job's live output; the page polls for lines after a seq."""

    class Stream(models.TextChoices):
        STDOUT = "stdout", "stdout"
        STDERR = "stderr", "stderr"
        INFO = "info", "info"
        ERROR = "error", "error"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="log_lines")
    seq = models.PositiveIntegerField()
    at = models.DateTimeField()
    stream = models.CharField(max_length=6, choices=Stream.choices, default=Stream.STDOUT)
    text = models.TextField()

    class Meta:
        ordering = ["job", "seq"]
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="log_line_seq")]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.seq} {self.text[:60]}"
