"""What checklists plug into the job engine (``migrations_ops.jobs.hooks``).

- the workspace: a job of a release runs on the bundle it pinned when queued, unpacked;
- "checklists.evidence": a finished job becomes evidence for every item whose step names
  its kind, in the job's finishing transaction (they commit together);
- options: a production apply job a freeze window caught between its queueing and its
  start is refused before it connects (``deployments.apply.freeze_check``);
- "deployments.finish": a production apply job that ended finishes its deployment record
  and, when it succeeded, opens the post-deploy monitoring window.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from django.db import transaction

from checklists.bundles import BundleError, bundle_workspace, release_workspace
from checklists.deployments.apply import apply_finished, freeze_check
from checklists.services.items import evidence_from_job
from migrations_ops.jobs import hooks
from migrations_ops.jobs.kinds import kind_spec
from migrations_ops.models import Job
from migrations_ops.runners.base import RunnerError

logger = logging.getLogger(__name__)

NO_MIGRATIONS_QUEUED = (
    "the job was queued before the release had migrations: upload its supabase/ folder, "
    "then run it again"
)


@contextlib.contextmanager
def job_workspace(job: Job) -> Iterator[Path]:
    """The bundle the job pinned when it was queued (every attempt the same); a kind that
    pins none (backups, restore checks, secret names) reads the release's current one."""
    with contextlib.ExitStack() as stack:
        try:
            if job.bundle_id is not None:
                root = stack.enter_context(bundle_workspace(job.bundle))
            elif kind_spec(job.kind).pins_bundle:
                raise BundleError(NO_MIGRATIONS_QUEUED)
            else:
                root = stack.enter_context(release_workspace(job.release))
        except BundleError as e:
            raise RunnerError(str(e)) from None
        yield root


def attach_evidence(job: Job) -> None:
    evidence_from_job(job=job)


def finish_deployment(job: Job) -> None:
    if not (job.params or {}).get("deployment_id"):
        return
    # A savepoint: the job's own end must be recorded even if this fails; the deployment
    # then stays started (holding the target) until it is reported finished.
    try:
        with transaction.atomic():
            apply_finished(job=job)
    except Exception:
        logger.exception("apply job %s: could not finish its deployment record", job.pk)


def register() -> None:
    hooks.set_workspace(job_workspace)
    hooks.add_options(freeze_check)
    hooks.on_job_end("checklists.evidence", attach_evidence)
    hooks.on_job_end("deployments.finish", finish_deployment)
