from __future__ import annotations

import os

from django.contrib.postgres.fields import ArrayField
from django.core.validators import RegexValidator
from django.db import models

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
    require_qa_signoff = models.BooleanField(default=False)
    require_sre_signoff = models.BooleanField(default=False)
    uploader_may_not_sign = models.BooleanField(
        default=False,
        help_text="The person who uploaded the migrations may not give the final sign-off.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Target(models.Model):
    """A database the project deploys to, named by the environment variable holding its URL.

    The URL itself is never stored or shown: only the variable's name.
    """

    class Kind(models.TextChoices):
        STAGING = "staging", "Staging"
        PRODUCTION = "production", "Production"
        OTHER = "other", "Other"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="targets")
    name = models.SlugField(max_length=40)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    url_env_var = models.CharField(max_length=100, validators=[env_var_name])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="target_name_per_project")
        ]
        ordering = ["project", "kind", "name"]

    def __str__(self) -> str:
        return f"{self.project.slug}/{self.name}"

    def database_url(self) -> str | None:
        """The URL from the environment, or None when the variable is unset."""
        return os.environ.get(self.url_env_var) or None
