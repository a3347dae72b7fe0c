"""Reads for the release pages and the dashboard. A constant number of queries per page."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet

from checklists import rules
from checklists.models import ChecklistItem, Evidence, MigrationFile, Release, SignOff
from checklists.services.signoffs import signoff_changes
from release_portal.accounts.roles import roles_by_project, visible_project_ids
from release_portal.audit.models import AuditEvent

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
    return queryset.annotate(
        items_total=Count("items", filter=Q(items__step__is_signoff=False)),
        items_settled=Count(
            "items",
            filter=Q(items__step__is_signoff=False, items__state__in=["done", "not_applicable"]),
        ),
    ).order_by("-created_at", "-pk")


@dataclass
class Section:
    title: str
    items: list[ChecklistItem] = field(default_factory=list)

    @property
    def settled(self) -> int:
        return sum(1 for i in self.items if i.is_settled)


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


def release_page(release: Release, *, timeline_limit: int = 30) -> ReleasePage:
    """Everything the release page shows, in a fixed number of queries."""
    items = list(
        release.items.select_related("step", "done_by")
        .prefetch_related(
            Prefetch(
                "evidence",
                queryset=Evidence.objects.select_related("job", "created_by").order_by(
                    "-created_at"
                ),
            )
        )
        .order_by("step__position")
    )
    for i in items:
        i.release = release  # avoid a query per item when templates reach for it
    sections: OrderedDict[str, Section] = OrderedDict()
    for i in items:
        sections.setdefault(i.step.section, Section(i.step.section)).items.append(i)
    files = list(
        release.migration_files.only(
            "id", "release_id", "filename", "version", "name", "sha256", "size", "down_filename"
        ).order_by("version", "filename")
    )
    signoffs = list(release.signoffs.select_related("user").order_by("signed_at"))
    for s in signoffs:
        s.release = release
    stale = [(s, signoff_changes(s)) for s in signoffs if not s.is_current]
    timeline = list(
        AuditEvent.objects.filter(release_id=release.pk).order_by("-seq")[:timeline_limit]
    )
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
    )


def awaiting_user(user: Any, *, limit: int = 20) -> dict[str, list[Any]]:
    """What waits for this person: open items their roles own, sign-offs asked of them."""
    if not roles_by_project(user):
        return {"items": [], "signoffs": []}
    items = list(
        ChecklistItem.objects.filter(rules.items_owned_by(user))
        .filter(
            release__state__in=list(rules.PRE_DEPLOY),
            state__in=["open", "failed", "stale"],
            step__is_signoff=False,
        )
        .select_related("release", "release__project", "step")
        .order_by("release__planned_for", "release_id", "step__position")[:limit]
    )
    signoffs = list(
        Release.objects.filter(owner=user, state=Release.State.READY)
        .select_related("project")
        .order_by("planned_for", "pk")[:limit]
    )
    return {"items": items, "signoffs": signoffs}
