from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Case, Exists, OuterRef, Value, When
from django.db.models.expressions import RawSQL
from django.utils import timezone

from migrations_ops.model_keys import project_key
from migrations_ops.runners.base import RunnerError
from migrations_ops.target_rule import Refusal, command_variable_refusal, target_variable_refusal

DEFAULT_CHECK_COMMANDS = [
    ["pnpm", "run", "lint"],
    ["pnpm", "run", "typecheck"],
    ["pnpm", "run", "test:unit"],
    ["pnpm", "run", "test:auth"],
    ["pnpm", "run", "test:rls"],
]
DEFAULT_SECRET_NAMES = [
    "SUPABASE_ACCESS_TOKEN",
    "SUPABASE_STAGING_PROJECT_REF",
    "BACKUP_S3_ACCESS_KEY_ID",
    "BACKUP_S3_SECRET_ACCESS_KEY",
]

env_var_name = RegexValidator(
    r"^[A-Z_][A-Z0-9_]*$", "Use an environment variable name: capitals, digits and _."
)


def default_schemas() -> list[str]:
    return ["app", "public"]


def default_check_commands() -> list[list[str]]:
    return [list(c) for c in DEFAULT_CHECK_COMMANDS]


def default_secret_names() -> list[str]:
    return list(DEFAULT_SECRET_NAMES)


class Project(models.Model):
    """One Supabase project the team ships, with the settings its jobs use."""

    class MigrationsSource(models.TextChoices):
        UPLOAD = "upload", "Bundles uploaded from the browser or by CI"
        GIT = "git", "A git checkout on the portal's machine"

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    description = models.TextField(blank=True)
    migrations_source = models.CharField(
        max_length=10, choices=MigrationsSource.choices, default=MigrationsSource.UPLOAD
    )
    repo_path = models.CharField(
        max_length=500, blank=True, help_text="Path of the git checkout (for the git source)."
    )
    supabase_dir = models.CharField(
        max_length=200, default="supabase", help_text="The supabase/ folder inside the repository."
    )
    schemas = ArrayField(models.CharField(max_length=63), default=default_schemas)
    fixture_files = ArrayField(
        models.CharField(max_length=300),
        default=list,
        blank=True,
        help_text="SQL files, relative to the repository root, loaded first into every "
        "scratch database (Supabase roles, auth schema...).",
    )
    seed_files = ArrayField(models.CharField(max_length=300), default=list, blank=True)
    rollbacks_dir = models.CharField(max_length=200, default="supabase/rollbacks")
    check_commands = models.JSONField(default=default_check_commands, blank=True)
    command_env_names = ArrayField(
        models.CharField(max_length=100, validators=[env_var_name]), default=list, blank=True
    )
    command_timeout_seconds = models.PositiveIntegerField(default=600)
    required_secret_names = ArrayField(
        models.CharField(max_length=100, validators=[env_var_name]), default=default_secret_names
    )
    dry_run_with_data = models.BooleanField(default=False)
    dry_run_data_max_mb = models.PositiveIntegerField(default=50)
    # The PostgreSQL major version of a job's sandboxed cluster when the job has no target
    # to match (null: PORTAL_SANDBOX_PG_MAJOR, else the highest installed).
    sandbox_pg_major = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="PostgreSQL major version for jobs without a target (e.g. RLS tests).",
    )
    require_qa_signoff = models.BooleanField(default=False)
    require_sre_signoff = models.BooleanField(default=False)
    # A release the risk job rates high needs the SRE sign-off, and the gate needs a risk
    # result for the release's current content (migrations_ops.analysis.gate_rule).
    high_risk_requires_sre = models.BooleanField(default=True)
    # Four eyes, on by default: the person who uploaded the migrations does not also give
    # the final sign-off (an upload by a CI token has no personal uploader).
    uploader_may_not_sign = models.BooleanField(
        default=True,
        help_text="The person who uploaded the migrations may not give the final sign-off.",
    )
    # Runbook §5.1: the backup is taken before the production apply. One older than this
    # (hours; 0: no limit) no longer opens the gate: the SRE takes and verifies another.
    backup_max_age_hours = models.PositiveIntegerField(
        default=24,
        help_text="The gate needs the release's verified production backup to be at most "
        "this many hours old (0: no limit).",
    )
    break_glass_needs_second_lead = models.BooleanField(
        default=True,
        help_text="A break-glass override opens the gate only once a second platform lead "
        "confirms it.",
    )
    maintenance_webhook_url = models.URLField(
        max_length=500,
        blank=True,
        help_text='Optional: incidents POST {"maintenance_mode": true/false} here to flip the '
        "app's maintenance_mode flag (runbook §5.2 step 1). Failures are shown, never blocking.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def command_variable_refusals(self, names: list[str] | None = None) -> list[str]:
        """Why some of ``names`` (by default ``command_env_names``) may not be given to
        the check commands (``target_rule.command_variable_refusal``); empty when all may."""
        names = self.command_env_names if names is None else names
        named = set(
            Target.objects.filter(url_env_var__in=names).values_list("url_env_var", flat=True)
        )
        refusals = (
            command_variable_refusal(
                project_slug=self.slug, name=name, used_by_a_target=name in named
            )
            for name in names
        )
        return [r for r in refusals if r]


class TargetDisabled(RunnerError):
    """A job or page wanted a target the target rule refuses; the message says why."""


class TargetQuerySet(models.QuerySet["Target"]):
    def in_flow_order(self) -> TargetQuerySet:
        """In the order a release reaches them: staging, then any other, then production
        (by name within each), on every page and menu that lists a project's targets."""
        flow = Case(
            When(kind=Target.Kind.STAGING, then=Value(0)),
            When(kind=Target.Kind.PRODUCTION, then=Value(2)),
            default=Value(1),
        )
        return self.order_by("project_id", flow, "name")

    def with_rule(self) -> TargetQuerySet:
        """Targets carrying what ``Target.refusal`` needs, in this one query: the project
        (for its slug) and whether another project's target names the same variable."""
        if "named_by_other_project" in self.query.annotations:
            return self  # a form field copies its queryset: annotate it once
        others = Target.objects.filter(url_env_var=OuterRef("url_env_var")).exclude(
            project_id=OuterRef("project_id")
        )
        return self.select_related("project").annotate(named_by_other_project=Exists(others))

    def refusal_for(self, *, project: Project, variable: str) -> Refusal | None:
        """What the target rule says of a target of ``project`` naming ``variable``.

        Asks all targets, whatever queryset it is called on (``project.targets`` too).
        """

        def named_by_other_project() -> bool:
            others = Target.objects.filter(url_env_var=variable).exclude(project=project)
            return others.exists()

        return target_variable_refusal(
            project_slug=project.slug, name=variable, used_by_other_project=named_by_other_project
        )


class Target(models.Model):
    """A database the project deploys to, named by the environment variable holding its URL.

    The URL itself is never stored or shown: only the variable's name. A target whose
    variable the target rule refuses (``migrations_ops.target_rule``) is disabled:
    ``refusal`` says why, and ``database_url()`` never reads the variable.
    """

    class Kind(models.TextChoices):
        STAGING = "staging", "Staging"
        PRODUCTION = "production", "Production"
        OTHER = "other", "Other"

    project = project_key("targets")
    name = models.SlugField(max_length=40)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    url_env_var = models.CharField(max_length=100, validators=[env_var_name])
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TargetQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="target_name_per_project")
        ]
        ordering = ["project", "kind", "name"]

    def __str__(self) -> str:
        return f"{self.project.slug}/{self.name}"

    @property
    def refusal(self) -> Refusal | None:
        """Why the target rule refuses this target's variable (it is disabled), or None."""
        named: bool | None = getattr(self, "named_by_other_project", None)
        if named is None:
            return Target.objects.refusal_for(project=self.project, variable=self.url_env_var)
        return target_variable_refusal(
            project_slug=self.project.slug,
            name=self.url_env_var,
            used_by_other_project=lambda: named,
        )

    @property
    def is_disabled(self) -> bool:
        return self.refusal is not None

    @property
    def disabled_reason(self) -> str | None:
        """ "the target production is disabled: ..." for a job or a form to refuse with."""
        refusal = self.refusal
        return None if refusal is None else f"the target {self.name} is disabled: {refusal}"

    def database_url(self) -> str | None:
        """The URL from the environment, or None when the variable is unset.

        Raises TargetDisabled, without reading the variable, when the rule refuses it.
        """
        reason = self.disabled_reason
        if reason is not None:
            raise TargetDisabled(reason)
        return os.environ.get(self.url_env_var) or None


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
    def worker_silent(self) -> bool:
        """Running, but its worker stopped renewing the lease: killed or gone, until the
        reaper (a Celery task, so it waits for a free worker) takes the job back."""
        return (
            self.state == self.State.RUNNING
            and self.lease_expires_at is not None
            and self.lease_expires_at < timezone.now()
        )

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


# The SRE side of the runbook (§5) lives in its features' folders: backups, rollback
# plans, incidents. Imported here, at the end, so Django finds them.
from migrations_ops.backups.models import BackupManifest, BackupManifestQuerySet  # noqa: E402
from migrations_ops.incidents.models import Incident, IncidentEntry  # noqa: E402
from migrations_ops.rollback.models import RollbackPlan  # noqa: E402

__all__ = [
    "BackupManifest",
    "BackupManifestQuerySet",
    "Incident",
    "IncidentEntry",
    "Job",
    "JobLogLine",
    "Project",
    "RollbackPlan",
    "Target",
    "TargetDisabled",
]
