"""The job kinds: one registry entry per kind says everything the portal does with it.

Adding a kind is a runner module (``migrations_ops.runners.<kind>``), an entry in
``KINDS`` and a ``Job.Kind`` choice. The services, the views, the Celery dispatch, the
API, the runbook's evidence kinds and ``manage.py runner`` all read this registry.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from migrations_ops.jobs import options as opt
from migrations_ops.models import Job, Target
from migrations_ops.runners import get_runner
from migrations_ops.runners.base import RunContext, RunResult
from release_portal.accounts.roles import Action

K = Job.Kind


@dataclass(frozen=True)
class JobKind:
    """What one kind of job needs, and what the portal does with it."""

    kind: str
    # The name a crowded table shows (the release page's jobs), with ``label`` beside it
    # as the title: "Risk" for "Release risk: locks, rewrites, data loss".
    short: str = ""
    # Long, heavy jobs that hold production connections get their own workers.
    queue: str = "checks"
    # The permission a person needs to start, cancel or retry it.
    action: Action = Action.RUN_CHECKS
    # The scope an API token needs to start it on staging (or with no target): deploy for
    # the jobs that hold production connections (a dump of production, a restore of one, a
    # change to it). On a production target every kind needs deploy (``api_scope_for``).
    api_scope: str = "report"
    # Two attempts; one for a job that could half-apply a change if a dead worker's job
    # ran again: a person looks at the database first, so the reaper fails it instead.
    attempts: int = 2
    # Part of the runbook's §3 pre-flight ("Run pre-flight" queues them all, in order).
    preflight: bool = False
    # It changes a production database: started from the deploy and rollback pages,
    # which check the release gate, never from the "Run" form or a retry button.
    gated: bool = False
    # It runs bundle content (migrations, tests, fixtures, seeds, scripts, a backup's
    # code): always in the sandbox (migrations_ops.pg.sandbox), never with the worker's
    # powers. Required for every kind that reads the bundle's files.
    sandbox: bool = False
    # It runs against the bundle it was queued for (the content digest its evidence names):
    # job_enqueue pins the release's current bundle in ``Job.bundle``, and every attempt
    # (the reaper's too) unpacks exactly that one.
    pins_bundle: bool = True
    needs_release: bool = False
    needs_target: bool = False
    # How its options are built from the project's settings (``jobs.options``), in order.
    options: tuple[Callable[..., None], ...] = ()
    # What happens when it ends, beyond the hooks every kind gets (``jobs.hooks``).
    ends: tuple[str, ...] = ()
    # Informational kinds: their result is attached, as information that never passes or
    # fails an item, to the items whose steps name these evidence kinds (besides their own).
    informs: tuple[str, ...] = ()
    # It restores a backup *of production* into its sandbox's cluster: what it writes (its
    # log, error, summary and result) can quote production's rows, so only the people who
    # may download production's backups read it (``jobs.output``).
    holds_production_rows: bool = False

    @property
    def evidence(self) -> str:
        """The evidence kind a runbook step names to take this job's result."""
        return f"job:{self.kind}"

    @property
    def label(self) -> str:
        return str(K(self.kind).label)

    @property
    def time_limits(self) -> tuple[int, int]:
        return time_limits(self.kind)


_SCRATCH = (opt.scratch_database,)
GUARD = (opt.production_guard,)
MANAGE_BACKUPS, MANAGE_ROLLBACKS = Action.MANAGE_BACKUPS, Action.MANAGE_ROLLBACKS


def _on_target(kind: str, action: Action, **spec: Any) -> JobKind:
    """Long, heavy jobs holding a target's (production's) connections run on workers of
    their own, and an API token needs the deploy scope to start them."""
    return JobKind(
        kind, queue="backups", action=action, api_scope="deploy", needs_target=True, **spec
    )


def _gated(kind: str, action: Action, **spec: Any) -> JobKind:
    """It changes production: the deploy scope, the gate, one attempt, a release."""
    return _on_target(kind, action, attempts=1, gated=True, needs_release=True, **spec)


KINDS: dict[str, JobKind] = {
    spec.kind: spec
    for spec in (
        # The runbook's §3 pre-flight, plus the RLS tests and the drift check, against
        # staging, in the order "Run pre-flight" queues them.
        JobKind(K.ORDER, "Order", preflight=True),
        JobKind(K.COMMANDS, "Checks", preflight=True, sandbox=True, options=(opt.check_commands,)),
        JobKind(K.DRY_RUN, "Dry run", preflight=True, sandbox=True, options=_SCRATCH),
        JobKind(K.FIXTURES, "Fixtures", preflight=True, sandbox=True, options=_SCRATCH),
        JobKind(K.PENDING, "Pending", preflight=True),
        JobKind(
            K.SECRETS, "Secrets", preflight=True, pins_bundle=False, options=(opt.secret_names,)
        ),
        JobKind(
            K.RLS,
            "RLS tests",
            preflight=True,
            sandbox=True,
            options=(*_SCRATCH, opt.project_schemas),
        ),
        JobKind(K.DRIFT, "Drift", preflight=True, sandbox=True),
        # What the release does to the database (issue 15): informational evidence on the
        # dry-run and RLS steps; they never fail a release by themselves.
        JobKind(
            K.RISK, "Risk", preflight=True, sandbox=True, options=_SCRATCH, informs=("job:dry_run",)
        ),
        JobKind(
            K.ACCESS,
            "Access matrix",
            preflight=True,
            sandbox=True,
            options=(*_SCRATCH, opt.project_schemas, opt.target_kind),
            informs=("job:rls", "job:fixtures"),
        ),
        # The SRE side (runbook §5) and the deployment itself.
        _on_target(
            K.BACKUP, MANAGE_BACKUPS, short="Backup", pins_bundle=False, ends=("backups.manifest",)
        ),
        _on_target(
            K.RESTORE_CHECK,
            MANAGE_BACKUPS,
            short="Restore check",
            sandbox=True,
            pins_bundle=False,
            holds_production_rows=True,
            ends=("backups.verification",),
        ),
        _gated(K.APPLY, Action.DEPLOY, short="Apply", options=GUARD, ends=("deployments.finish",)),
        _gated(K.ROLLBACK, MANAGE_ROLLBACKS, short="Rollback", options=(opt.rollbacks_dir, *GUARD)),
        _on_target(
            K.REHEARSAL,
            MANAGE_ROLLBACKS,
            short="Rehearsal",
            sandbox=True,
            needs_release=True,
            holds_production_rows=True,
            options=(*_SCRATCH, opt.rollbacks_dir),
            ends=("rollback.rehearsal",),
        ),
    )
}
assert set(KINDS) == set(Job.Kind.values), "every Job.Kind has a registry entry"
assert all(spec.short for spec in KINDS.values()), "every kind has a short name"


# Runners that are not job kinds: ``manage.py runner`` runs them (in the sandbox).
COMMAND_LINE_ONLY: tuple[str, ...] = ()


def short_label(kind: str) -> str:
    """The kind's short name ("Risk"), its label for a kind no longer registered."""
    spec = KINDS.get(kind)
    return spec.short if spec else str(kind)


def kind_spec(kind: str) -> JobKind:
    """The registry entry of ``kind`` (KeyError for an unknown kind)."""
    return KINDS[kind]


PREFLIGHT_KINDS: tuple[str, ...] = tuple(k for k, spec in KINDS.items() if spec.preflight)
SANDBOX_KINDS = frozenset(k for k, spec in KINDS.items() if spec.sandbox)
GATED_KINDS = frozenset(k for k, spec in KINDS.items() if spec.gated)
PRODUCTION_ROWS_KINDS = frozenset(k for k, spec in KINDS.items() if spec.holds_production_rows)


def queue_for(kind: str) -> str:
    return KINDS[kind].queue


def action_for(kind: str) -> Action:
    """The permission needed to start, cancel or retry a job of ``kind``."""
    spec = KINDS.get(kind)
    return spec.action if spec else Action.RUN_CHECKS


def max_attempts_for(kind: str) -> int:
    return KINDS[kind].attempts


# The scope a token needs for any job on a production target, whatever its kind.
PRODUCTION_API_SCOPE = "deploy"


def api_scope_for(kind: str, target: Target | None = None) -> str:
    """The scope an API token needs to start a job of ``kind`` on ``target``.

    The kind's own scope (``JobKind.api_scope``), except on a production target, where
    every kind needs ``deploy``: the pre-flight checks read the target they run on (its
    migration history, its schema for the dry run), so a token that only reports CI
    results never makes the portal connect to production. A job with no target connects
    to no database.
    """
    if target is not None and target.kind == Target.Kind.PRODUCTION:
        return PRODUCTION_API_SCOPE
    return KINDS[kind].api_scope


def time_limits(kind: str) -> tuple[int, int]:
    """(soft, hard) seconds: the soft limit ends the job as timed_out, the hard one kills it."""
    soft = int(settings.JOB_TIME_LIMITS.get(kind, settings.JOB_DEFAULT_TIME_LIMIT))
    return soft, soft + int(settings.JOB_TIME_LIMIT_GRACE_SECONDS)


def page_runnable_kinds() -> list[tuple[str, str]]:
    """(value, label) of the kinds the "Run" form offers."""
    return [(value, label) for value, label in Job.Kind.choices if not KINDS[value].gated]


def job_evidence_kinds() -> list[str]:
    """The evidence kinds jobs produce ("job:<kind>"), for the runbook's steps."""
    return [spec.evidence for spec in KINDS.values()]


def job_runner(kind: str) -> Callable[[RunContext], RunResult]:
    """The runner for ``kind``: settings.JOB_RUNNER_MODULES overrides the built-in module.

    KeyError("no runner for job kind 'x'") when there is none.
    """
    module_path = settings.JOB_RUNNER_MODULES.get(kind)
    if module_path:
        runner: Callable[[RunContext], RunResult] = importlib.import_module(module_path).run
        return runner
    return get_runner(kind)
