"""Job results as people read them: one view per job kind, keyed by kind.

A runner's result is JSON written for machines (the evidence, the API, the end hooks).
Each kind may register a **result view** here: a presenter turning the (path-scrubbed)
result into what its template shows, and the template. A kind without one gets the
generic view (``generic``): its fields as text, lists, key/value tables and tables.

Adding a kind's view is a presenter (``present(result) -> dict``) and a template under
``templates/migrations_ops/jobs/results/``, then one line in ``RESULT_VIEWS``. A
presenter that cannot read a result (an older shape, a cut-short run) falls back to the
generic view rather than break the job page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from migrations_ops.jobs.results import (
    analysis,
    backups,
    checks,
    generic,
    migrations,
    rollbacks,
    tests,
)
from migrations_ops.jobs.scrub import scrub_data
from migrations_ops.models import Job

logger = logging.getLogger(__name__)

K = Job.Kind
Presenter = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class ResultView:
    """How one kind's result is shown: ``present`` builds the template's ``view``."""

    template: str
    present: Presenter

    @classmethod
    def named(cls, name: str, present: Presenter) -> ResultView:
        return cls(f"migrations_ops/jobs/results/{name}.html", present)


GENERIC = ResultView.named("generic", generic.present)

RESULT_VIEWS: dict[str, ResultView] = {
    K.DRY_RUN: ResultView.named("dry_run", migrations.present_dry_run),
    K.APPLY: ResultView.named("apply", migrations.present_apply),
    K.RLS: ResultView.named("rls", tests.present_rls),
    K.COMMANDS: ResultView.named("commands", tests.present_commands),
    K.BACKUP: ResultView.named("backup", backups.present_backup),
    K.RESTORE_CHECK: ResultView.named("restore_check", backups.present_restore_check),
    K.SECRETS: ResultView.named("secrets", checks.present_secrets),
    K.ORDER: ResultView.named("order", checks.present_order),
    K.PENDING: ResultView.named("pending", checks.present_pending),
    K.FIXTURES: ResultView.named("fixtures", checks.present_fixtures),
    K.DRIFT: ResultView.named("drift", migrations.present_drift),
    K.RISK: ResultView.named("risk", analysis.present_risk),
    K.ACCESS: ResultView.named("access", analysis.present_access),
    K.ROLLBACK: ResultView.named("rollback", rollbacks.present_rollback),
    K.REHEARSAL: ResultView.named("rehearsal", rollbacks.present_rehearsal),
}


def register(kind: str, view: ResultView) -> None:
    """Give ``kind`` its own result view (a kind added outside this package)."""
    RESULT_VIEWS[kind] = view


def result_view_for(kind: str) -> ResultView:
    """The view registered for ``kind``, else the generic one."""
    return RESULT_VIEWS.get(kind, GENERIC)


def present_job_result(job: Job) -> tuple[str, dict[str, Any]]:
    """(template, view) for ``job``'s result, with no server path anywhere in it."""
    result = scrub_data(job.result or {})
    if not result:
        return GENERIC.template, {"fields": []}
    spec = result_view_for(job.kind)
    try:
        return spec.template, spec.present(result)
    except (KeyError, TypeError, ValueError, AttributeError):
        logger.warning("job %s: its %s result has an unexpected shape", job.pk, job.kind)
        return GENERIC.template, GENERIC.present(result)
