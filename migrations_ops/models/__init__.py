"""The models of migrations_ops, one module per part: ``projects`` (projects, targets and
the target rule's fields), ``jobs`` (jobs and their log), ``sre`` (backups, rollback
plans, incidents). Everything is imported from here, as Django expects of an app's
models."""

from migrations_ops.models.jobs import Job, JobLogLine, JobQuerySet, attempt_ended, attempt_started
from migrations_ops.models.projects import (
    DEFAULT_CHECK_COMMANDS,
    DEFAULT_SECRET_NAMES,
    Project,
    Target,
    TargetDisabled,
    TargetQuerySet,
    default_check_commands,
    default_schemas,
    default_secret_names,
    env_var_name,
    project_key,
    release_key,
    target_key,
)
from migrations_ops.models.sre import (
    BackupManifest,
    BackupManifestQuerySet,
    Incident,
    IncidentEntry,
    RollbackPlan,
)

__all__ = [
    "DEFAULT_CHECK_COMMANDS",
    "DEFAULT_SECRET_NAMES",
    "BackupManifest",
    "BackupManifestQuerySet",
    "Incident",
    "IncidentEntry",
    "Job",
    "JobLogLine",
    "JobQuerySet",
    "Project",
    "RollbackPlan",
    "Target",
    "TargetDisabled",
    "TargetQuerySet",
    "attempt_ended",
    "attempt_started",
    "default_check_commands",
    "default_schemas",
    "default_secret_names",
    "env_var_name",
    "project_key",
    "release_key",
    "target_key",
]
