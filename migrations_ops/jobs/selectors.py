"""Reads for the job pages: a person's view of jobs, and log lines after a seq."""

from __future__ import annotations

from typing import Any

from django.db import connection

from migrations_ops.models import Job, JobLogLine
from release_portal.accounts.access import get_for_user

# One poll answers at most this many lines; the next poll continues from the last seq.
LOG_PAGE_LINES = 1000


# What a log poll needs of its job: the poll runs every second for every open job page.
POLL_FIELDS = ("id", "project_id", "kind", "state", "cancel_requested_at")


_POLL_SQL = (
    "SELECT j.id, j.project_id, j.kind, j.state, j.cancel_requested_at FROM {job} j"
    " WHERE j.id = %s AND EXISTS (SELECT 1 FROM {member} m"
    " WHERE m.user_id = %s AND m.project_id = j.project_id)"
)


def get_job_for_user(user: Any, pk: int, *, for_poll: bool = False) -> Job:
    """Job ``pk`` if ``user`` holds a role in its project; 404 otherwise (never 403).

    ``for_poll`` loads only the few columns a log poll reads.
    """
    if for_poll:
        # The poll's one read: the job and the membership test in one query (no roles
        # query on a request that runs every second per open job page), as plain SQL:
        # compiling the ORM's Exists() cost more than running it.
        from django.http import Http404

        from release_portal.accounts.models import Membership

        found = list(Job.objects.raw(_POLL_SQL.format(job=Job._meta.db_table,
                                                      member=Membership._meta.db_table),
                                     [pk, user.pk]))  # fmt: skip
        if not found or not getattr(user, "is_active", False):
            raise Http404("No such job.")
        return found[0]
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
    # Plain SQL for the same reason as the poll's job read (this runs every second).
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT seq, stream, text FROM {JobLogLine._meta.db_table}"  # noqa: S608
            " WHERE job_id = %s AND seq > %s ORDER BY seq LIMIT %s",
            [job.pk, after, limit + 1],
        )
        rows = [{"seq": seq, "stream": stream, "text": text} for seq, stream, text in cursor]
    return rows[:limit], len(rows) > limit
