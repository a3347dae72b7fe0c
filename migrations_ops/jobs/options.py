"""How a job's options are built from its project's settings, one function per group.

The registry (``jobs.kinds``) names the groups each kind gets, in order. A runner reads
them from ``ctx.options``; a job's parameters are merged over them, except the
``PROTECTED`` ones, so parameters cannot widen what a job may run or read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from migrations_ops.models import Job
from migrations_ops.runners.base import RunnerError

# Options a job's parameters may not override.
PROTECTED = frozenset({"commands", "env_names", "required", "target_kind", "release_digest"})

Options = dict[str, Any]


def resolve_under(root: Path | None, relative: str, what: str) -> Path:
    """``relative`` inside the job's files ``root``; a RunnerError says what to fix."""
    if root is None:
        raise RunnerError(
            f"the {what} {relative} needs the release's files: upload its migrations first"
        )
    base = root.resolve()
    path = (base / relative).resolve()
    if path != base and base not in path.parents:
        raise RunnerError(
            f"the {what} {relative!r} points outside the repository: use a path relative "
            "to the repository root (e.g. supabase/tests/fixtures/roles.sql)"
        )
    return path


def check_commands(job: Job, root: Path | None, options: Options) -> None:
    """The allow-listed commands, the variables they may see, and their timeout."""
    project = job.project
    refusals = project.command_variable_refusals()
    if refusals:
        raise RunnerError(" ".join([*refusals, "Remove it from the project's settings."]))
    options["commands"] = [list(c) for c in project.check_commands]
    options["env_names"] = list(project.command_env_names)
    options["timeout_seconds"] = project.command_timeout_seconds


def secret_names(job: Job, root: Path | None, options: Options) -> None:
    options["required"] = list(job.project.required_secret_names)


def scratch_database(job: Job, root: Path | None, options: Options) -> None:
    """How scratch databases are prepared: staging's data or not, and the seed files."""
    project = job.project
    options["with_data"] = project.dry_run_with_data
    options["data_max_mb"] = project.dry_run_data_max_mb
    options["seed_files"] = [str(resolve_under(root, f, "seed file")) for f in project.seed_files]


def rollbacks_dir(job: Job, root: Path | None, options: Options) -> None:
    options["rollbacks_dir"] = job.project.rollbacks_dir


def production_guard(job: Job, root: Path | None, options: Options) -> None:
    """The production guard compares what the gate approved (job params) with the release
    as it is when the job starts; neither value may come from params."""
    options["target_kind"] = job.target.kind if job.target else ""
    options["release_digest"] = job.release.digest if job.release else ""


def project_schemas(job: Job, root: Path | None, options: Options) -> None:
    """The access matrix and the RLS tests' table measurements cover the project's
    schemas (those it backs up and compares: an app's API schemas are among them)."""
    options["exposed_schemas"] = list(job.project.schemas)


def target_kind(job: Job, root: Path | None, options: Options) -> None:
    """Whether the target is production: its rows are then never copied into a sandbox."""
    options["target_kind"] = job.target.kind if job.target else ""


def sandbox_version(job: Job, root: Path | None, options: Options) -> None:
    """The PostgreSQL major version of a sandboxed job's cluster when it has no target."""
    if job.project.sandbox_pg_major:
        options["pg_major"] = job.project.sandbox_pg_major
