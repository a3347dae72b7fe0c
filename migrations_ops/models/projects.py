"""Projects and their targets: where a project's migrations run, and the rule for
which targets and variables a project may use.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from django.contrib.postgres.fields import ArrayField
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Exists, OuterRef

from migrations_ops.runners.base import RunnerError
from migrations_ops.target_rule import Refusal, command_variable_refusal, target_variable_refusal

if TYPE_CHECKING:
    from checklists.models import Release

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


def project_key(related_name: str) -> models.ForeignKey[Project, Project]:
    """The project a row belongs to: deleting the project deletes the row."""
    return models.ForeignKey(
        "migrations_ops.Project", on_delete=models.CASCADE, related_name=related_name
    )


def release_key(related_name: str) -> models.ForeignKey[Release, Release]:
    """The release a row is history or evidence of: it keeps the release from deletion."""
    return models.ForeignKey(
        "checklists.Release", on_delete=models.PROTECT, related_name=related_name
    )


def target_key(related_name: str) -> models.ForeignKey[Target, Target]:
    """The target a row was made on: it keeps the target from deletion."""
    return models.ForeignKey(
        "migrations_ops.Target", on_delete=models.PROTECT, related_name=related_name
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
