"""Reads for the job pages: a person's view of jobs, and log lines after a seq."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import JSONField
from django.db.models.expressions import RawSQL

from migrations_ops.models import Job, JobLogLine, Target
from release_portal.accounts.access import get_for_user

# One poll answers at most this many lines; the next poll continues from the last seq.
LOG_PAGE_LINES = 1000


# What a log poll needs of its job: the poll runs every second for every open job page.
POLL_FIELDS = ("id", "project_id", "kind", "state", "cancel_requested_at")

# A job's lines after a seq (constraint log_line_seq's index), for the page and the poll.
_LINES_SQL = (
    "SELECT seq, stream, text FROM {line} WHERE job_id = {job} AND seq > %s ORDER BY seq LIMIT %s"
)
# The poll's one read: the job (if the reader holds a role in its project) with its lines
# after a seq, in one statement. One statement reads one snapshot, so when the job has
# ended there, every line it wrote is there too. Table names only are formatted in.
_POLL_SQL = (
    "SELECT j.id, j.project_id, j.kind, j.state, j.cancel_requested_at,"  # noqa: S608
    " l.seq, l.stream, l.text FROM {job} j LEFT JOIN LATERAL ("
    + _LINES_SQL.format(line="{line}", job="j.id")
    + ") l ON true"
    " WHERE j.id = %s AND EXISTS (SELECT 1 FROM {member} m"
    " WHERE m.user_id = %s AND m.project_id = j.project_id)"
    " ORDER BY l.seq"
)


def get_job_for_user(user: Any, pk: int) -> Job:
    """Job ``pk`` if ``user`` holds a role in its project; 404 otherwise (never 403)."""
    queryset = Job.objects.select_related("project", "release", "target", "retry_of")
    return get_for_user(user, queryset, what="job", pk=pk)


def poll_for_user(
    user: Any, pk: int, after: int, *, limit: int = LOG_PAGE_LINES
) -> tuple[Job, list[dict[str, Any]], bool]:
    """What a log poll reads: job ``pk`` (only POLL_FIELDS) if ``user`` holds a role in
    its project, else 404 (never 403); up to ``limit`` of its lines with seq > ``after``
    (constraint log_line_seq's index); and whether more follow.

    Plain SQL, one round trip: this runs every second per open job page, and compiling
    the ORM's Exists() cost more than running it."""
    from django.http import Http404

    from release_portal.accounts.models import Membership

    if not getattr(user, "is_active", False):
        raise Http404("No such job.")
    sql = _POLL_SQL.format(
        job=Job._meta.db_table, line=JobLogLine._meta.db_table, member=Membership._meta.db_table
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [after, limit + 1, pk, user.pk])
        rows = cursor.fetchall()
    if not rows:
        raise Http404("No such job.")
    job = Job.from_db(connection.alias, POLL_FIELDS, rows[0][: len(POLL_FIELDS)])
    lines = [
        {"seq": seq, "stream": stream, "text": text}
        for *_job, seq, stream, text in rows
        if seq is not None
    ]
    return job, lines[:limit], len(lines) > limit


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
    """Up to ``limit`` of ``job``'s lines with seq > ``after``, and whether more follow
    (the job page; the poll reads its lines with its job, poll_for_user)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _LINES_SQL.format(line=JobLogLine._meta.db_table, job="%s"),
            [job.pk, after, limit + 1],
        )
        rows = [{"seq": seq, "stream": stream, "text": text} for seq, stream, text in cursor]
    return rows[:limit], len(rows) > limit


# --- each kind's latest job for the release's current content -------------------------

# Per (kind, target): the newest job for the release's current content, else the newest
# of all (then it ran for earlier files), as one JSON list, newest first. A correlated
# subquery over the release's row ({release} is its table), so the release page reads it
# with the release itself (index job_by_release).
_LATEST_JOBS_SQL = (
    "SELECT COALESCE(jsonb_agg(jsonb_build_object('id', s.id, 'kind', s.kind, 'state', s.state,"
    " 'current', s.current, 'target', s.target, 'target_kind', s.target_kind)"
    " ORDER BY s.created_at DESC, s.id DESC), '[]'::jsonb) FROM ("
    " SELECT DISTINCT ON (j.kind, j.target_id) j.id, j.kind, j.state, j.created_at,"
    " (j.content_digest = {release}.content_digest) AS current,"
    " t.name AS target, t.kind AS target_kind"
    " FROM {job} j LEFT JOIN {target} t ON t.id = j.target_id"
    " WHERE j.release_id = {release}.id"
    " ORDER BY j.kind, j.target_id, (j.content_digest = {release}.content_digest) DESC,"
    " j.created_at DESC, j.id DESC) s"
)


def latest_jobs_expression(release_table: str) -> RawSQL:
    """An annotation for a release queryset: ``latest_jobs``, read by ``kind_marks``."""
    sql = _LATEST_JOBS_SQL.format(
        release=release_table, job=Job._meta.db_table, target=Target._meta.db_table
    )
    return RawSQL(sql, (), output_field=JSONField())  # noqa: S611 - table names only


def latest_jobs(release: Any) -> list[dict[str, Any]]:
    """The release's ``latest_jobs`` annotation, read now when the row came without it."""
    if "latest_jobs" in release.__dict__:
        return list(release.latest_jobs or [])
    rows = (
        type(release)
        .objects.filter(pk=release.pk)
        .annotate(latest_jobs=latest_jobs_expression(type(release)._meta.db_table))
    )
    return list(rows.values_list("latest_jobs", flat=True).first() or [])


@dataclass(frozen=True)
class KindMark:
    """Where one kind (on one target) stands for the release's current files."""

    kind: str
    label: str
    state: str  # a Job.State, "stale" (ran for earlier files only) or "not_run"
    job_id: int | None = None
    target: str = ""
    target_kind: str = ""

    @property
    def done(self) -> bool:
        return self.state == Job.State.SUCCEEDED

    @property
    def words(self) -> str:
        if self.state == "stale":
            return "ran for earlier files: run it again"
        if self.state == "not_run":
            return "not run yet"
        return "passed" if self.done else Job.State(self.state).label.lower()


def kind_marks(latest: list[dict[str, Any]], kinds: tuple[str, ...]) -> list[KindMark]:
    """One mark per kind in ``kinds``: its newest job for the current content, on any
    target (``latest`` as ``latest_jobs`` gives it, newest first)."""
    marks = []
    for kind in kinds:
        rows = [r for r in latest if r["kind"] == kind]
        row = next((r for r in rows if r["current"]), rows[0] if rows else None)
        marks.append(_mark(kind, row))
    return marks


def target_marks(latest: list[dict[str, Any]], kind: str) -> list[KindMark]:
    """One mark per target a job of ``kind`` ran on, production first."""
    rows = [r for r in latest if r["kind"] == kind and r["target"]]
    rows.sort(key=lambda r: (r["target_kind"] != "production", r["target"]))
    return [_mark(kind, r) for r in rows]


def _mark(kind: str, row: dict[str, Any] | None) -> KindMark:
    label = Job.Kind(kind).label
    if row is None:
        return KindMark(kind, label, "not_run")
    state = row["state"] if row["current"] else "stale"
    return KindMark(kind, label, state, row["id"], row["target"] or "", row["target_kind"] or "")


@dataclass(frozen=True)
class RelatedLink:
    """Something a job made or worked on, as the job page links it: ("Backup", its file)."""

    label: str
    text: str
    url: str


def related_links(job: Job) -> list[RelatedLink]:
    """The backup a backup job made or a restore check checked, and the rollback plan a
    rehearsal or rollback ran (with its backup): the pages a reader of the job goes on to.
    At most two small reads, and only for those kinds; always within the job's project."""
    from django.urls import reverse

    from migrations_ops.models import BackupManifest, RollbackPlan

    params = job.params or {}
    links: list[RelatedLink] = []
    backup: BackupManifest | None = None
    backups = BackupManifest.objects.filter(project_id=job.project_id).only("id", "file_name")
    if job.kind == Job.Kind.BACKUP:
        backup = backups.filter(job=job).first()
    elif job.kind == Job.Kind.RESTORE_CHECK and str(params.get("backup_id", "")).isdigit():
        backup = backups.filter(pk=int(params["backup_id"])).first()
    elif (
        job.kind in (Job.Kind.REHEARSAL, Job.Kind.ROLLBACK)
        and str(params.get("plan_id", "")).isdigit()
    ):
        plan = (
            RollbackPlan.objects.filter(project_id=job.project_id, pk=int(params["plan_id"]))
            .select_related("backup")
            .only("id", "backup__id", "backup__file_name")
            .first()
        )
        if plan is not None:
            url = reverse("rollback_detail", args=[plan.pk])
            links.append(RelatedLink("Rollback plan", f"#{plan.pk}", url))
            backup = plan.backup
    if backup is not None:
        url = reverse("backup_detail", args=[backup.pk])
        links.append(RelatedLink("Backup", backup.file_name, url))
    return links
