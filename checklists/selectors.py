"""Reads for the release pages and the dashboard. A constant number of queries per page."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import (
    Count,
    IntegerField,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils import timezone

from checklists import proof, rules
from checklists.audit_events import step_texts_from
from checklists.models import ChecklistItem, Evidence, MigrationFile, Release, SignOff, Waiver
from checklists.services.signoffs import signoff_changes
from checklists.sql import exists_sql
from migrations_ops.jobs.selectors import latest_jobs_expression
from release_portal.accounts.access import get_for_user
from release_portal.accounts.roles import Action, roles_by_project, visible_project_ids
from release_portal.audit import registry
from release_portal.audit.models import AuditEvent

# The release page lists this many files; "Show all N files" fetches the rest on demand.
FILES_SHOWN = 40
# Job start/finish events are hidden in the timeline unless asked for.
JOB_EVENT_PREFIX = "job."
# The timeline reads at most this many events per row it shows (job events included).
JOB_EVENTS_PER_ROW = 4


def revision_subquery() -> Subquery:
    """The release's revision: the newest change-log entry about it. Every change to a
    release (ticks, sign-offs, uploads, jobs starting and ending, their evidence) writes
    the change log in its own transaction, so the revision moves with every change; one
    index-only read of audit_by_release."""
    return Subquery(
        AuditEvent.objects.filter(release_id=OuterRef("pk"))
        .order_by()
        .values("release_id")
        .annotate(rev=Max("seq"))
        .values("rev")[:1],
        output_field=IntegerField(),
    )


def release_revision(user: Any, pk: int) -> int | None:
    """The revision of release ``pk`` if ``user`` may see it (None otherwise): one query."""
    row = (
        Release.objects.filter(pk=pk, project_id__in=visible_project_ids(user))
        .annotate(rev=Coalesce(revision_subquery(), 0))
        .values_list("rev", flat=True)
        .first()
    )
    return None if row is None else int(row)


def _page_annotations() -> dict[str, Any]:
    """The release page's extra columns as plain SQL: the page asks for them on every
    request, and building them as ORM subqueries cost more than running them."""
    from checklists.models import FreezeWindow, GateOverride, PeerReview
    from migrations_ops.models import BackupManifest, RollbackPlan
    from migrations_ops.monitoring.models import MonitoringWindow

    release = Release._meta.db_table
    audit = AuditEvent._meta.db_table

    def number(sql: str) -> RawSQL:
        return RawSQL(f"COALESCE(({sql}), 0)", (), output_field=IntegerField())  # noqa: S611

    now = timezone.now()
    return {
        # The newest change to the release (index audit_by_release), and anywhere in its
        # project (audit_by_project: its freeze windows, targets, members, other
        # releases): the cached page is keyed by both.
        "revision": number(
            f"SELECT max(a.seq) FROM {audit} a WHERE a.release_id = {release}.id"  # noqa: S608
        ),
        "project_revision": number(
            f"SELECT a.seq FROM {audit} a WHERE a.project_id = {release}.project_id "  # noqa: S608
            "ORDER BY a.seq DESC LIMIT 1"
        ),
        "files_count": number(
            f"SELECT count(*) FROM {MigrationFile._meta.db_table} f "  # noqa: S608
            f"WHERE f.release_id = {release}.id"
        ),
        # Whether the panels below have anything to read: most releases have no
        # override, freeze, review, backup, plan or monitoring window yet, and the page
        # then skips those reads.
        "has_open_override": exists_sql(
            GateOverride, f"x.release_id = {release}.id AND x.resolved_at IS NULL"
        ),
        "has_freeze": exists_sql(
            FreezeWindow,
            f"x.project_id = {release}.project_id AND x.starts_at <= %s AND x.ends_at > %s",
            now,
            now,
        ),
        "has_peer_review": exists_sql(PeerReview, f"x.release_id = {release}.id"),
        "has_backups": exists_sql(
            BackupManifest, f"x.release_id = {release}.id AND x.deleted_at IS NULL"
        ),
        "has_rollback_plan": exists_sql(RollbackPlan, f"x.release_id = {release}.id"),
        "has_monitoring_window": exists_sql(MonitoringWindow, f"x.release_id = {release}.id"),
        # Each job kind's newest job for the current files: the pre-flight and apply
        # cards' check marks (migrations_ops.jobs.selectors.kind_marks).
        "latest_jobs": latest_jobs_expression(release),
    }


def release_for_page(user: Any, pk: int, action: Action | None = None) -> Release:
    """The release for its page (404/403 as get_release_for_user), with its revisions,
    its number of files and which panels have anything, in one query."""
    queryset = Release.objects.select_related(
        "project", "owner", "runbook_version", "migrations_uploaded_by"
    ).annotate(**_page_annotations())
    return get_for_user(user, queryset, what="release", action=action, pk=pk)


ACTIVE_STATES = [s for s in rules.PRE_DEPLOY] + [Release.State.DEPLOYING, Release.State.MONITORING]


def releases_for_user(
    user: Any, *, project: str = "", state: str = "", owner: str = ""
) -> QuerySet[Release]:
    """The releases a person may see, filtered; newest first."""
    queryset = Release.objects.filter(project_id__in=visible_project_ids(user)).select_related(
        "project", "owner"
    )
    if project:
        queryset = queryset.filter(project__slug=project)
    if state:
        queryset = queryset.filter(state=state)
    if owner:
        queryset = queryset.filter(owner__username=owner)
    return queryset.order_by("-created_at", "-pk")


def with_progress(releases: list[Release]) -> list[Release]:
    """Set ``items_total`` and ``items_settled`` (checklist progress, sign-off steps left
    out) on a page of releases, in one query for the page: never a count per release nor
    a count of every release before taking a page."""
    counts: dict[int, Any] = (
        {
            row["release_id"]: row
            for row in ChecklistItem.objects.filter(
                release_id__in=[r.pk for r in releases], step__is_signoff=False
            )
            .values("release_id")
            .annotate(
                total=Count("id"),
                settled=Count("id", filter=Q(state__in=["done", "not_applicable"])),
            )
            .order_by()
        }
        if releases
        else {}
    )
    for r in releases:
        row = counts.get(r.pk, {})
        r.items_total = row.get("total", 0)  # type: ignore[attr-defined]
        r.items_settled = row.get("settled", 0)  # type: ignore[attr-defined]
    return releases


@dataclass
class Section:
    title: str
    items: list[ChecklistItem] = field(default_factory=list)

    @property
    def settled(self) -> int:
        return sum(1 for i in self.items if i.is_settled)

    @property
    def all_settled(self) -> bool:
        return all(i.is_settled for i in self.items)

    @property
    def slug(self) -> str:
        return "".join(c if c.isalnum() else "-" for c in self.title.lower()).strip("-")


def group_evidence(item: ChecklistItem, evidence: list[Evidence] | None = None) -> None:
    """``item.latest_evidence``: the newest evidence of each kind (newest first);
    ``item.older_evidence``: the earlier runs, shown behind a toggle. ``evidence`` is the
    item's, newest first (else its prefetched ``evidence``)."""
    latest: list[Evidence] = []
    older: list[Evidence] = []
    seen: set[str] = set()
    for ev in item.evidence.all() if evidence is None else evidence:
        (older if ev.kind in seen else latest).append(ev)
        seen.add(ev.kind)
    item.latest_evidence = latest  # type: ignore[attr-defined]
    item.older_evidence = older  # type: ignore[attr-defined]


def item_with_evidence(release: Release, item_pk: int) -> ChecklistItem:
    """One item for its htmx answer, with what its template shows (three queries)."""
    item = release.items.select_related("step", "done_by").get(pk=item_pk)
    item.release = release
    return with_evidence(item)


def with_evidence(item: ChecklistItem) -> ChecklistItem:
    """``item`` (its step and release read already) with the rest of what its template
    shows: its evidence, grouped as the release page groups it, and its waivers
    (``waiver_list``) as the page orders them: two queries at most.

    An item that knows it has none (``has_evidence``/``has_waivers`` False, read with its
    lock by checklists.services.items._locked) is given empty lists without a query."""
    evidence: list[Evidence] = []
    if getattr(item, "has_evidence", True):
        evidence = list(_evidence_queryset().filter(item=item))
    group_evidence(item, evidence)
    waivers: list[Waiver] = []
    if getattr(item, "has_waivers", True):
        waivers = list(_waivers_queryset().filter(item=item))
    for w in waivers:
        w.release, w.item = item.release, item
    item.waiver_list = waivers  # type: ignore[attr-defined]
    return item


def _evidence_queryset() -> QuerySet[Evidence]:
    return Evidence.objects.select_related("job").order_by("-created_at", "-pk")


def _waivers_queryset() -> QuerySet[Waiver]:
    return Waiver.objects.select_related("asked_by", "approved_by", "revoked_by").order_by(
        "-asked_at"
    )


def _evidence_prefetch() -> Prefetch:
    return Prefetch("evidence", queryset=_evidence_queryset())


def _waivers_prefetch() -> Prefetch:
    return Prefetch("waivers", queryset=_waivers_queryset())


@dataclass(frozen=True)
class TimelineRow:
    event: AuditEvent
    # "ticked “Run `supabase db lint`”": Markdown, rendered by the template; already HTML
    # (a SafeString) where it names a step by its text (checklists.audit_events).
    phrase: str
    detail: str  # a reason, a summary
    is_job: bool  # a job's start or end: hidden unless asked for


@dataclass
class ReleasePage:
    release: Release
    sections: list[Section]
    files: list[MigrationFile]
    signoffs: list[SignOff]
    required_signoffs: list[str]
    stale_signoffs: list[tuple[SignOff, dict[str, list[str]]]]
    timeline: list[AuditEvent]
    open_count: int
    items: list[ChecklistItem] = field(default_factory=list)
    files_count: int = 0

    @property
    def files_hidden(self) -> int:
        return max(0, self.files_count - len(self.files))

    @property
    def timeline_job_events(self) -> int:
        return sum(1 for e in self.timeline if e.action.startswith(JOB_EVENT_PREFIX))

    @property
    def timeline_rows(self) -> list[TimelineRow]:
        """The timeline in words, as the change log says them: item and evidence events
        name their item by its whole text (from this page's checklist, no query)."""
        step_texts_from(self.timeline, self.items, self.release.owner.get_username())
        return [
            TimelineRow(e, registry.phrase_for(e), registry.detail_for(e),
                        e.action.startswith(JOB_EVENT_PREFIX))
            for e in self.timeline
        ]  # fmt: skip

    # Evidence-required items whose check did not pass and that no waiver lets past,
    # the approved waivers for this content, and the waivers waiting for a second person.
    failed_checks: list[proof.Check] = field(default_factory=list)
    active_waivers: list[Waiver] = field(default_factory=list)
    pending_waivers: list[Waiver] = field(default_factory=list)


def timeline_events(release_id: int, *, limit: int) -> Any:
    """The release's newest ``limit`` events that are not a job's start or finish, with the
    job events among them (the timeline hides those unless asked): jobs never push the
    people's events off the timeline. One query; at most ``JOB_EVENTS_PER_ROW`` times
    ``limit`` rows in all."""
    events = AuditEvent.objects.filter(release_id=release_id)
    floor = (
        events.exclude(action__startswith=JOB_EVENT_PREFIX)
        .order_by("-seq")
        .values("seq")[limit - 1 : limit]
    )
    return events.filter(seq__gte=Coalesce(Subquery(floor), Value(0))).order_by("-seq")[
        : limit * JOB_EVENTS_PER_ROW
    ]


def release_page(
    release: Release, *, timeline_limit: int = 40, files_limit: int | None = FILES_SHOWN
) -> ReleasePage:
    """Everything the release page shows, in a fixed number of queries."""
    items = list(
        release.items.select_related("step", "done_by")
        .prefetch_related(
            _evidence_prefetch(),
            _waivers_prefetch(),
        )
        .order_by("step__position")
    )
    failed_checks: list[proof.Check] = []
    active_waivers: list[Waiver] = []
    pending_waivers: list[Waiver] = []
    for i in items:
        i.release = release  # avoid a query per item when templates reach for it
        group_evidence(i)
        i.waiver_list = list(i.waivers.all())  # type: ignore[attr-defined]
        for w in i.waiver_list:  # type: ignore[attr-defined]
            w.release, w.item = release, i
        i.active_waiver = next((w for w in i.waivers.all() if w.is_active), None)  # type: ignore[attr-defined]
        i.pending_waiver = next((w for w in i.waivers.all() if w.state == "pending"), None)  # type: ignore[attr-defined]
        i.proof = proof.check_item(i, release)  # type: ignore[attr-defined]
        if i.active_waiver is not None:  # type: ignore[attr-defined]
            active_waivers.append(i.active_waiver)  # type: ignore[attr-defined]
        elif i.proof is not None and not i.proof.passed:  # type: ignore[attr-defined]
            failed_checks.append(i.proof)  # type: ignore[attr-defined]
        if i.pending_waiver is not None:  # type: ignore[attr-defined]
            pending_waivers.append(i.pending_waiver)  # type: ignore[attr-defined]
    sections: OrderedDict[str, Section] = OrderedDict()
    for i in items:
        sections.setdefault(i.step.section, Section(i.step.section)).items.append(i)
    files_query = release.migration_files.only(
        "id", "release_id", "filename", "version", "name", "sha256", "size", "down_filename"
    ).order_by("version", "filename")
    files = list(files_query[:files_limit] if files_limit else files_query)
    files_count = getattr(release, "files_count", None)
    if files_count is None:
        files_count = len(files) if files_limit is None else release.migration_files.count()
    signoffs = list(release.signoffs.select_related("user").order_by("signed_at"))
    for s in signoffs:
        s.release = release
    stale = [(s, signoff_changes(s)) for s in signoffs if not s.is_current]
    timeline = list(timeline_events(release.pk, limit=timeline_limit))
    open_count = sum(1 for i in items if not i.step.is_signoff and not i.is_settled)
    return ReleasePage(
        release=release,
        sections=list(sections.values()),
        files=files,
        signoffs=signoffs,
        required_signoffs=rules.signoff_kinds_required(release),
        stale_signoffs=stale,
        timeline=timeline,
        open_count=open_count,
        items=items,
        files_count=files_count,
        failed_checks=failed_checks,
        active_waivers=active_waivers,
        pending_waivers=pending_waivers,
    )


def awaiting_user(user: Any, *, limit: int = 20) -> dict[str, list[Any]]:
    """What waits for this person: open items their roles own, sign-offs asked of them."""
    if not roles_by_project(user):
        return {"items": [], "signoffs": []}
    # The nearest releases first, a growing batch at a time: never every open item of
    # every release (the dashboard costs the same with a thousand releases).
    releases = Release.objects.filter(
        project_id__in=visible_project_ids(user), state__in=list(rules.PRE_DEPLOY)
    ).order_by("planned_for", "pk")
    items: list[ChecklistItem] = []
    start, batch = 0, limit
    while len(items) < limit:
        ids = list(releases.values_list("pk", flat=True)[start : start + batch])
        if not ids:
            break
        items += list(
            ChecklistItem.objects.filter(rules.items_owned_by(user))
            .filter(
                release_id__in=ids,
                state__in=["open", "failed", "stale"],
                step__is_signoff=False,
            )
            .select_related("release", "release__project", "release__owner", "step")
            .order_by("release__planned_for", "release_id", "step__position")[: limit - len(items)]
        )
        if len(ids) < batch:
            break
        start, batch = start + batch, batch * 4
    signoffs = list(
        Release.objects.filter(owner=user, state=Release.State.READY)
        .select_related("project")
        .order_by("planned_for", "pk")[:limit]
    )
    return {"items": items, "signoffs": signoffs}
