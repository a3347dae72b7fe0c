"""What each job kind needs: its queue, time limit, attempts and the permission to start it.

Declared once here; the services, the views and the Celery dispatch all read it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from django.conf import settings

from migrations_ops.models import Job
from migrations_ops.runners import get_runner
from migrations_ops.runners.base import RunContext, RunResult
from release_portal.accounts.roles import Action

K = Job.Kind

# The runbook's §3 pre-flight, plus the RLS tests and the drift check, against staging.
PREFLIGHT_KINDS: tuple[str, ...] = (
    K.ORDER,
    K.COMMANDS,
    K.DRY_RUN,
    K.FIXTURES,
    K.PENDING,
    K.SECRETS,
    K.RLS,
    K.DRIFT,
)

# Jobs that hold production connections (a dump of production, a restore of one, a
# change to it): an API token needs the deploy scope to start them.
PRODUCTION_KINDS = frozenset({K.BACKUP, K.RESTORE_CHECK, K.APPLY, K.ROLLBACK, K.REHEARSAL})

# Long, heavy jobs that hold production connections get their own workers.
BACKUP_QUEUE_KINDS = PRODUCTION_KINDS

# They run bundle content (migrations, tests, fixtures, seeds, scripts, a backup's code):
# always in the sandbox (migrations_ops.pg.sandbox), never with the worker's powers.
SANDBOX_KINDS = frozenset(
    {K.DRY_RUN, K.FIXTURES, K.RLS, K.DRIFT, K.COMMANDS, K.RESTORE_CHECK, K.REHEARSAL}
)

# They change a production database: started from the deploy and rollback pages, which
# check the release gate, never from the generic "Run" form or a retry button.
GATED_KINDS = frozenset({K.APPLY, K.ROLLBACK})

# Running them twice after a worker died midway could apply half a migration twice: a
# person looks at the database first, so the reaper fails them instead of re-queueing.
SINGLE_ATTEMPT_KINDS = GATED_KINDS

_ACTION: dict[str, Action] = {
    K.BACKUP: Action.MANAGE_BACKUPS,
    K.RESTORE_CHECK: Action.MANAGE_BACKUPS,
    K.APPLY: Action.DEPLOY,
    K.ROLLBACK: Action.MANAGE_ROLLBACKS,
    K.REHEARSAL: Action.MANAGE_ROLLBACKS,
}


def queue_for(kind: str) -> str:
    return "backups" if kind in BACKUP_QUEUE_KINDS else "checks"


def action_for(kind: str) -> Action:
    """The permission needed to start, cancel or retry a job of ``kind``."""
    return _ACTION.get(kind, Action.RUN_CHECKS)


def max_attempts_for(kind: str) -> int:
    return 1 if kind in SINGLE_ATTEMPT_KINDS else 2


def time_limits(kind: str) -> tuple[int, int]:
    """(soft, hard) seconds: the soft limit ends the job as timed_out, the hard one kills it."""
    soft = int(settings.JOB_TIME_LIMITS.get(kind, settings.JOB_DEFAULT_TIME_LIMIT))
    return soft, soft + int(settings.JOB_TIME_LIMIT_GRACE_SECONDS)


def page_runnable_kinds() -> list[tuple[str, str]]:
    """(value, label) of the kinds the "Run" form offers."""
    return [(value, label) for value, label in Job.Kind.choices if value not in GATED_KINDS]


def job_runner(kind: str) -> Callable[[RunContext], RunResult]:
    """The runner for ``kind``: settings.JOB_RUNNER_MODULES overrides the built-in module.

    KeyError("no runner for job kind 'x'") when there is none.
    """
    module_path = settings.JOB_RUNNER_MODULES.get(kind)
    if module_path:
        runner: Callable[[RunContext], RunResult] = importlib.import_module(module_path).run
        return runner
    return get_runner(kind)
