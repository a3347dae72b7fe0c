"""Building a runner's RunContext from a Job row: the glue between the portal and runners.

- supabase_dir / repo_dir: the release's stored bundle unpacked into a fresh workspace
  (removed afterwards); for a job without a release, the project's git checkout if any.
- database_url: read from the environment variable the job's target names. The value is
  never stored or logged; it and its password are redacted from the job's log.
- fixtures and seed files: the project's paths resolved under the workspace root.
- options: the project's settings for the kind, merged with the job's parameters. The
  allow-listed commands and the secret and environment names always come from the
  project: parameters cannot widen what a job may run or read.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from checklists.bundles import BundleError, release_workspace
from migrations_ops.backups.job_files import sre_job_options
from migrations_ops.jobs.kinds import SANDBOX_KINDS, time_limits
from migrations_ops.models import Job, Project
from migrations_ops.pg.job_sandbox import JobSandbox, open_sandbox
from migrations_ops.pg.sandbox import SandboxError
from migrations_ops.runners.base import RunContext, RunnerError

# Options a job's parameters may not override.
PROTECTED_OPTIONS = frozenset(
    {"commands", "env_names", "required", "target_kind", "release_digest"}
)

_SCRATCH_KINDS = {Job.Kind.DRY_RUN, Job.Kind.FIXTURES, Job.Kind.RLS, Job.Kind.REHEARSAL}


def _resolve_under(root: Path | None, relative: str, what: str) -> Path:
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


def project_options(job: Job, root: Path | None) -> dict[str, Any]:
    """The project's settings a runner of ``job.kind`` reads from ``ctx.options``."""
    project: Project = job.project
    options: dict[str, Any] = {}
    if job.kind == Job.Kind.COMMANDS:
        refusals = project.command_variable_refusals()
        if refusals:
            raise RunnerError(" ".join([*refusals, "Remove it from the project's settings."]))
        options["commands"] = [list(c) for c in project.check_commands]
        options["env_names"] = list(project.command_env_names)
        options["timeout_seconds"] = project.command_timeout_seconds
    if job.kind == Job.Kind.SECRETS:
        options["required"] = list(project.required_secret_names)
    if job.kind in SANDBOX_KINDS and project.sandbox_pg_major:
        options["pg_major"] = project.sandbox_pg_major
    if job.kind in _SCRATCH_KINDS:
        options["with_data"] = project.dry_run_with_data
        options["data_max_mb"] = project.dry_run_data_max_mb
        options["seed_files"] = [
            str(_resolve_under(root, f, "seed file")) for f in project.seed_files
        ]
    if job.kind in {Job.Kind.ROLLBACK, Job.Kind.REHEARSAL}:
        options["rollbacks_dir"] = project.rollbacks_dir
    if job.kind in {Job.Kind.APPLY, Job.Kind.ROLLBACK}:
        # The production guard compares what the gate approved (job params) with the
        # release as it is when the job starts; neither value may come from params.
        options["target_kind"] = job.target.kind if job.target else ""
        options["release_digest"] = job.release.digest if job.release else ""
    return options


def merged_options(job: Job, root: Path | None) -> dict[str, Any]:
    options = project_options(job, root)
    for key, value in (job.params or {}).items():
        if key not in PROTECTED_OPTIONS:
            options[key] = value
    return options


def _nothing(name: str) -> None:
    del name


def secret_values(job: Job, database_url: str | None) -> list[str]:
    """Values that must never reach the log: the target URL, its password, named secrets."""
    values: list[str] = []
    if database_url:
        values.append(database_url)
        password = urlsplit(database_url).password
        if password:
            values += [password, unquote(password)]
    project = job.project
    for name in [*project.required_secret_names, *project.command_env_names]:
        value = os.environ.get(name)
        if value:
            values.append(value)
    return values


@contextlib.contextmanager
def job_run_context(
    job: Job,
    *,
    log: Callable[[str, str], None],
    cancelled: Callable[[], bool],
    scratch_created: Callable[[str], None],
    scratch_dropped: Callable[[str], None],
) -> Iterator[RunContext]:
    """A RunContext for ``job``; the release's workspace is removed when the block ends."""
    project: Project = job.project
    with contextlib.ExitStack() as stack:
        root: Path | None = None
        if job.release_id is not None:
            try:
                root = stack.enter_context(release_workspace(job.release))
            except BundleError as e:
                raise RunnerError(str(e)) from None
            supabase_dir: Path | None = root / "supabase"
        elif project.repo_path:
            root = Path(project.repo_path)
            supabase_dir = root / (project.supabase_dir or "supabase")
        else:
            supabase_dir = None
        sandbox: JobSandbox | None = None
        if job.kind in SANDBOX_KINDS:
            try:
                sandbox = open_sandbox(purpose=job.kind, time_limit=time_limits(job.kind)[0])
                stack.enter_context(sandbox)
            except SandboxError as e:
                raise RunnerError(str(e)) from None
            if root is not None:
                sandbox.add_content(root)
            if sandbox.isolated:
                # The job's cluster dies with the sandbox: nothing for the reaper to drop.
                scratch_created = scratch_dropped = _nothing
        target = job.target
        options = merged_options(job, root)
        # Backup files, the rollback plan and the target's deploy lock (held until the end).
        options.update(stack.enter_context(sre_job_options(job)))
        yield RunContext(
            supabase_dir=supabase_dir,
            repo_dir=root,
            database_url=target.database_url() if target else None,
            target_name=target.name if target else "target",
            fixtures=[_resolve_under(root, f, "fixture file") for f in project.fixture_files],
            schemas=list(project.schemas),
            options=options,
            log=log,
            cancelled=cancelled,
            scratch_created=scratch_created,
            scratch_dropped=scratch_dropped,
            sandbox=sandbox,
        )
