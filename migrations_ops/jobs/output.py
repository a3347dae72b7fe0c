"""Who reads what a job wrote: its log, error, summary and result.

A restore check and a rollback rehearsal restore a backup *of production* into their
sandbox's cluster (``JobKind.holds_production_rows``). What they write can quote its rows:
pg_restore's errors quote row values ("Key (email)=(…) already exists"), and a
rehearsal runs the release's migrations and the plan's down scripts over the rows, code
a release engineer or a CI token uploaded, which can print them, name a table after
them or fail quoting them. So their output is for the people already trusted with
production's data: those who may download its backups (``Action.DOWNLOAD_BACKUP``:
platform leads and SREs). Everyone else in the project sees that the job ran, on what,
by whom, when, its state and the portal's own verdict (``verdict``), and ``WITHHELD``
where the text would be. No API token downloads a backup, so no token reads it either.

Readers of one job ask ``may_read_output`` (or ``summary_for``); records everyone reads
alike (the change log, notices, webhook messages, checklist evidence) carry
``summary_for_all``: the verdict alone for these kinds.
"""

from __future__ import annotations

from typing import Any

from migrations_ops.jobs.kinds import PRODUCTION_ROWS_KINDS
from migrations_ops.models import Job
from release_portal.accounts.roles import Action, can

# The permission that reads production's rows elsewhere too (its backups' files).
OUTPUT_ACTION = Action.DOWNLOAD_BACKUP

WITHHELD = (
    "This job ran over a copy of production's rows: its log and details are shown to SREs "
    "and platform leads only."
)


def holds_production_rows(kind: str) -> bool:
    """Whether a job of ``kind`` restores production's rows into its sandbox."""
    return kind in PRODUCTION_ROWS_KINDS


def may_read_output(reader: Any, job: Job) -> bool:
    """May ``reader`` (a person, or an API token) read ``job``'s log, error, summary and
    result? Always for a job that held no production rows; else only a person who may
    download the project's backups. An API token is no person: no token downloads a
    backup, so none reads these."""
    return not holds_production_rows(job.kind) or may_read_production_rows(reader, job.project_id)


def may_read_production_rows(reader: Any, project: Any) -> bool:
    """May ``reader`` read what such a job wrote in ``project`` (a project or its id),
    wherever it was copied (a rollback plan's rehearsal, a backup's verification)?"""
    if getattr(reader, "is_authenticated", False) is not True:
        return False
    return can(reader, OUTPUT_ACTION, project)


def verdict(job: Job) -> str:
    """The portal's own words for how ``job`` stands: "Restore check passed"."""
    label = job.get_kind_display()
    if job.state == Job.State.SUCCEEDED:
        return f"{label} passed"
    if job.is_active:
        return ""
    return f"{label} {Job.State(job.state).label.lower()}"


def summary_for_all(job: Job) -> str:
    """``job``'s summary for a record every member (or a webhook) reads alike: the
    verdict alone for a job that held production's rows."""
    return verdict(job) if holds_production_rows(job.kind) else job.summary


def summary_for(reader: Any, job: Job) -> str:
    """``job``'s summary as ``reader`` may read it."""
    return job.summary if may_read_output(reader, job) else verdict(job)
