"""Building a runner's RunContext from a Job row: the glue between the portal and runners.

- supabase_dir / repo_dir: for a job of a release, its files as the workspace hook gives
  them (the release's stored bundle unpacked into a fresh folder, removed afterwards); for
  a job without a release, the project's git checkout if any.
- database_url: read from the environment variable the job's target names. The value is
  never stored or logged; it and its password are redacted from the job's log.
- fixtures and seed files: the project's paths resolved under the workspace root.
- options: the project's settings for the kind (the groups its registry entry names, see
  ``jobs.options``) and the features' options hooks, merged with the job's parameters. The
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

from migrations_ops.jobs import hooks
from migrations_ops.jobs import options as opt
from migrations_ops.jobs.kinds import kind_spec, time_limits
from migrations_ops.models import Job, Project
from migrations_ops.pg.job_sandbox import JobSandbox, open_sandbox
from migrations_ops.pg.sandbox import SandboxError
from migrations_ops.runners.base import RunContext, RunnerError


def project_options(job: Job, root: Path | None) -> dict[str, Any]:
    """The project's settings a runner of ``job.kind`` reads from ``ctx.options``: the
    groups its registry entry names (``jobs.options``)."""
    spec = kind_spec(job.kind)
    options: dict[str, Any] = {}
    for group in spec.options:
        group(job, root, options)
    if spec.sandbox:
        opt.sandbox_version(job, root, options)
    return options


def merged_options(job: Job, root: Path | None) -> dict[str, Any]:
    options = project_options(job, root)
    for key, value in (job.params or {}).items():
        if key not in opt.PROTECTED:
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
        if job.release_id is not None and (root := stack.enter_context(hooks.workspace(job))):
            supabase_dir: Path | None = root / "supabase"
        elif project.repo_path:
            root = Path(project.repo_path)
            supabase_dir = root / (project.supabase_dir or "supabase")
        else:
            supabase_dir = None
        sandbox: JobSandbox | None = None
        if kind_spec(job.kind).sandbox:
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
        # The features' options (backup files, the rollback plan, the target's deploy
        # lock), held until the end.
        options.update(stack.enter_context(hooks.feature_options(job)))
        yield RunContext(
            supabase_dir=supabase_dir,
            repo_dir=root,
            database_url=target.database_url() if target else None,
            target_name=target.name if target else "target",
            url_variable=target.url_env_var if target else "",
            fixtures=[opt.resolve_under(root, f, "fixture file") for f in project.fixture_files],
            schemas=list(project.schemas),
            options=options,
            log=log,
            cancelled=cancelled,
            scratch_created=scratch_created,
            scratch_dropped=scratch_dropped,
            sandbox=sandbox,
        )
