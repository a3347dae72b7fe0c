"""Reads for the job pages: a person's view of jobs, and log lines after a seq."""

from __future__ import annotations

from typing import Any

from migrations_ops.models import Job, JobLogLine
from release_portal.accounts.access import get_for_user

# One poll answers at most this many lines; the next poll continues from the last seq.
LOG_PAGE_LINES = 1000


# What a log poll needs of its job: the poll runs every second for every open job page.
POLL_FIELDS = ("id", "project_id", "kind", "state", "cancel_requested_at")


def get_job_for_user(user: Any, pk: int, *, for_poll: bool = False) -> Job:
    """Job ``pk`` if ``user`` holds a role in its project; 404 otherwise (never 403).

    ``for_poll`` loads only the few columns a log poll reads.
    """
    if for_poll:
        queryset = Job.objects.only(*POLL_FIELDS)
    else:
        queryset = Job.objects.select_related("project", "release", "target", "retry_of")
    return get_for_user(user, queryset, what="job", pk=pk)


def release_jobs(release: Any, *, limit: int | None = None) -> list[Job]:
    """A release's jobs, newest first (index job_by_release)."""
    queryset = (
        Job.objects.filter(release=release)
        .select_related("target")
        .defer("result", "params", "error")
        .order_by("-created_at", "-pk")
    )
    return list(queryset[:limit] if limit else queryset)


def log_lines_after(job: Job, after: int, *, limit: int = LOG_PAGE_LINES) -> tuple[list[Any], bool]:
    """Up to ``limit`` lines with seq > ``after`` (constraint log_line_seq's index), and
    whether more follow."""
    rows = list(
        JobLogLine.objects.filter(job=job, seq__gt=after)
        .order_by("seq")
        .values("seq", "stream", "text")[: limit + 1]
    )
    return rows[:limit], len(rows) > limit
