"""Reading the change log for pages, exports and reports."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.db.models import QuerySet

from release_portal.audit.links import release_page
from release_portal.audit.models import GENESIS_HASH, AuditChainHead, AuditEvent

PAGE_SIZE = 50


@dataclass(frozen=True)
class ChainHead:
    seq: int
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash}


def audit_head() -> ChainHead:
    """The newest seq and hash as the head row holds them (genesis when nothing is written)."""
    row = AuditChainHead.objects.filter(pk=1).values_list("seq", "hash").first()
    return ChainHead(*row) if row else ChainHead(0, GENESIS_HASH)


def audit_events_for(
    *, project_ids: Iterable[int], filters: Mapping[str, Any]
) -> QuerySet[AuditEvent]:
    """Events of ``project_ids`` matching ``filters`` (the filter form's cleaned data).

    Events that belong to no project never match: only superusers read those, in the admin.
    """
    events = AuditEvent.objects.filter(project_id__in=list(project_ids))
    if filters.get("project") is not None:
        events = events.filter(project_id=filters["project"])
    if filters.get("release") is not None:
        events = events.filter(release_id=filters["release"])
    if filters.get("actor"):
        events = events.filter(actor_name__iexact=filters["actor"])
    if filters.get("action"):
        events = events.filter(action__startswith=filters["action"])
    if filters.get("since"):
        events = events.filter(at__gte=datetime.combine(filters["since"], time.min, tzinfo=UTC))
    if filters.get("until"):
        day_after = filters["until"] + timedelta(days=1)
        events = events.filter(at__lt=datetime.combine(day_after, time.min, tzinfo=UTC))
    return events


# --- one page of the change log ----------------------------------------------------------


@dataclass(frozen=True)
class DataLine:
    """One key of an event's ``data``: a value, or a change from ``before`` to ``after``."""

    key: str
    before: str | None
    after: str | None
    change: str  # "value", "changed", "added", "removed", "same"


@dataclass
class EventRow:
    event: AuditEvent
    project_name: str = ""
    release_title: str = ""
    release_url: str = ""
    lines: list[DataLine] = field(default_factory=list)

    @property
    def summary(self) -> str:
        """A one-line preview of the data for the <summary> of its <details>."""
        if not self.lines:
            return ""
        first = self.lines[0]
        text = (
            f"{first.key}: {first.before} → {first.after}"
            if first.change in {"changed", "added", "removed"}
            else f"{first.key}: {first.after}"
        )
        text = text if len(text) <= 70 else text[:69] + "…"
        more = len(self.lines) - 1
        return f"{text} (+{more} more)" if more else text


@dataclass
class AuditPage:
    rows: list[EventRow]
    older: int | None  # link to ?before=<older>
    newer: int | None  # link to ?after=<newer>
    paged: bool  # not the newest page


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


# Per-key changes as services tend to write them: {"state": {"from": "open", "to": "done"}}.
_PAIRS = (("before", "after"), ("from", "to"), ("old", "new"))


def data_lines(data: Any) -> list[DataLine]:
    """``data`` as readable lines: ``{"before": {...}, "after": {...}}`` and per-key
    ``{"from": x, "to": y}`` become changes, anything else a plain value."""
    if not isinstance(data, dict):
        return [] if data in (None, "") else [DataLine("value", None, _show(data), "value")]
    lines: list[DataLine] = []
    before, after = data.get("before"), data.get("after")
    if isinstance(before, dict | None) and isinstance(after, dict | None) and (before or after):
        before, after = before or {}, after or {}
        for key in [*before, *(k for k in after if k not in before)]:
            if key not in after:
                lines.append(DataLine(str(key), _show(before[key]), None, "removed"))
            elif key not in before:
                lines.append(DataLine(str(key), None, _show(after[key]), "added"))
            else:
                change = "same" if before[key] == after[key] else "changed"
                lines.append(DataLine(str(key), _show(before[key]), _show(after[key]), change))
        data = {k: v for k, v in data.items() if k not in {"before", "after"}}
    for key, value in data.items():
        pair = next((p for p in _PAIRS if isinstance(value, dict) and set(value) == set(p)), None)
        if pair is not None:
            old, new = pair
            lines.append(DataLine(str(key), _show(value[old]), _show(value[new]), "changed"))
        else:
            lines.append(DataLine(str(key), None, _show(value), "value"))
    return lines


def audit_page(
    events: QuerySet[AuditEvent],
    *,
    projects: Mapping[int, str],
    before: int | None = None,
    after: int | None = None,
    size: int = PAGE_SIZE,
) -> AuditPage:
    """Newest first, ``size`` events older than ``before`` or newer than ``after``.

    Keyset pagination on ``seq`` (never OFFSET): a page costs the same at event 10 and at
    event 10 million, and events written while someone pages never shift what they see.
    Two queries: the events, and the titles of the releases they name.
    """
    if after is not None:
        chunk = list(events.filter(seq__gt=after).order_by("seq")[: size + 1])
        page = list(reversed(chunk[:size]))
        newer = page[0].seq if len(chunk) > size else None
        older = page[-1].seq if page and after > 0 else None
    else:
        scoped = events if before is None else events.filter(seq__lt=before)
        chunk = list(scoped.order_by("-seq")[: size + 1])
        page = chunk[:size]
        older = page[-1].seq if len(chunk) > size else None
        newer = page[0].seq if before is not None and page else None
    titles = _release_titles({e.release_id for e in page if e.release_id}, projects)
    rows = [
        EventRow(
            event=e,
            project_name=projects.get(e.project_id or 0, ""),
            release_title=titles.get(e.release_id or 0, ""),
            release_url=release_page(e.release_id) if e.release_id else "",
            lines=data_lines(e.data),
        )
        for e in page
    ]
    return AuditPage(rows, older, newer, paged=before is not None or after is not None)


def _release_titles(ids: set[int], projects: Mapping[int, str]) -> dict[int, str]:
    if not ids:
        return {}
    from checklists.models import Release

    return dict(
        Release.objects.filter(pk__in=ids, project_id__in=list(projects)).values_list("pk", "title")
    )


def release_events(release: Any) -> QuerySet[AuditEvent]:
    """A release's timeline, oldest first (only events of the release's own project)."""
    return AuditEvent.objects.filter(release_id=release.pk, project_id=release.project_id).order_by(
        "seq"
    )


def project_names(projects: Sequence[Any]) -> dict[int, str]:
    return {p.pk: p.name for p in projects}
