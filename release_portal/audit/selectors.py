"""Reading the change log for pages, exports and reports."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.db.models import Q, QuerySet

from release_portal.audit import links, registry
from release_portal.audit.links import release_page
from release_portal.audit.models import (
    GENESIS_HASH,
    AuditChainHead,
    AuditCheckpoint,
    AuditEvent,
    AuditSigningKey,
)

PAGE_SIZE = 50


@dataclass(frozen=True)
class ChainHead:
    seq: int
    hash: str
    public_hash: str = GENESIS_HASH

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "public_hash": self.public_hash}


def audit_head() -> ChainHead:
    """The newest seq and hashes as the head row holds them (genesis when nothing is written)."""
    row = AuditChainHead.objects.filter(pk=1).values_list("seq", "hash", "public_hash").first()
    return ChainHead(*row) if row else ChainHead(0, GENESIS_HASH)


def latest_checkpoint() -> AuditCheckpoint | None:
    return AuditCheckpoint.objects.order_by("-pk").first()


def signing_keys() -> list[AuditSigningKey]:
    """Every key that signed checkpoints, oldest first, with its validity."""
    return list(AuditSigningKey.objects.order_by("valid_from_seq", "pk"))


def project_events_after(
    *, project_id: int, after_seq: int, up_to: int, limit: int
) -> list[dict[str, Any]]:
    """The project's events after ``after_seq`` (up to ``up_to``), oldest first, each as its
    canonical fields with ``digest``, ``public_hash`` and ``hash`` (what a SIEM re-hashes)."""
    rows = (
        AuditEvent.objects.filter(project_id=project_id, seq__gt=after_seq, seq__lte=up_to)
        .order_by("seq")
        .values_list("canonical", "digest", "public_hash", "hash")[:limit]
    )
    return [
        {**json.loads(canonical), "digest": digest, "public_hash": public, "hash": mac}
        for canonical, digest, public, mac in rows
    ]


def audit_filter(*, project_ids: Iterable[int] | None, filters: Mapping[str, Any]) -> Q:
    """Events of ``project_ids`` matching ``filters`` (the filter form's cleaned data).

    Events that belong to no project never match: only superusers read those, in the admin
    (and operators, in ``manage.py audit_export``, which passes ``project_ids=None``).
    """
    q = Q() if project_ids is None else Q(project_id__in=list(project_ids))
    if filters.get("project") is not None:
        q &= Q(project_id=filters["project"])
    if filters.get("release") is not None:
        q &= Q(release_id=filters["release"])
    if filters.get("actor"):
        q &= Q(actor_name__iexact=filters["actor"])
    if filters.get("action"):
        action = filters["action"]  # "item.tick", or a family: "item.*" (or "item.")
        if action.endswith(("*", ".")):
            q &= Q(action__startswith=action.rstrip("*"))
        else:
            q &= Q(action=action)
    if filters.get("object"):
        object_type, _, object_id = filters["object"].partition(":")
        q &= Q(object_type=object_type, object_id=object_id)
    if filters.get("hide_system"):
        q &= ~Q(actor_kind="system")
    if filters.get("since"):
        q &= Q(at__gte=datetime.combine(filters["since"], time.min, tzinfo=UTC))
    if filters.get("until"):
        day_after = filters["until"] + timedelta(days=1)
        q &= Q(at__lt=datetime.combine(day_after, time.min, tzinfo=UTC))
    return q


def audit_events_for(
    *, project_ids: Iterable[int], filters: Mapping[str, Any]
) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(audit_filter(project_ids=project_ids, filters=filters))


# --- one page of the change log ----------------------------------------------------------


@dataclass(frozen=True)
class DataLine:
    """One key of an event's ``data``: a value, or a change from ``before`` to ``after``."""

    key: str
    before: str | None
    after: str | None
    change: str  # "value", "changed", "added", "removed", "same"


# Objects whose change-log events link to their page (``EventRow.object_url``).
OBJECT_PAGES = {
    "Job": links.job_page,
    "BackupManifest": links.backup_page,
    "RollbackPlan": links.rollback_plan_page,
    "Release": links.release_page,
    "Incident": links.incident_page,
}


@dataclass
class EventRow:
    event: AuditEvent
    project_name: str = ""
    release_label: str = ""  # "R-12"
    release_url: str = ""
    lines: list[DataLine] = field(default_factory=list)

    @property
    def phrase(self) -> str:
        """What the actor did, in words: "ticked “RLS Docker test suite passed”"."""
        return registry.phrase_for(self.event)

    @property
    def detail(self) -> str:
        """Said after the sentence, following a colon: a reason, a summary."""
        return registry.detail_for(self.event)

    @property
    def label(self) -> str:
        return registry.label_for(self.event.action)

    @property
    def object_label(self) -> str:
        """``ChecklistItem`` -> ``checklist item``."""
        return re.sub(r"(?<!^)(?=[A-Z])", " ", self.event.object_type).lower()

    @property
    def on_release(self) -> bool:
        """Whether the sentence ends with "on release R-12" (not when it is the object)."""
        return bool(self.event.release_id) and self.event.object_type != "Release"

    @property
    def object_url(self) -> str:
        """The page of the event's object where the portal has one (a job, a backup, a
        rollback plan, a release, an incident), for the reader to go on to; else ""."""
        e = self.event
        if not e.object_id or not str(e.object_id).isdigit():
            return ""
        page = OBJECT_PAGES.get(e.object_type)
        return page(int(e.object_id)) if page else ""

    @property
    def object_tail(self) -> str:
        """What follows the object's label and id in its details: ": <its name>", without
        saying "Incident #1" twice when its name starts with that ("Incident #1: Checkout
        down" reads ": Checkout down", "Rollback plan #3 for production" " for production")."""
        e = self.event
        name = e.object_repr
        head = f"{self.object_label} #{e.object_id}"
        if e.object_id and name.lower().startswith(head.lower()):
            return name[len(head) :]
        return f": {name}" if name else ""

    @property
    def object_key(self) -> str:
        """``ChecklistItem:42``: the filter value of this object's history."""
        e = self.event
        return f"{e.object_type}:{e.object_id}" if e.object_type and e.object_id else ""


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
    One query: names (release, item, person) were copied into each event when written;
    at most one more per domain for what a sentence looks up (``registry.add_sentence_facts``).
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
    for e in page:  # sentences may name the project: its name, not its id
        setattr(e, "project_name", projects.get(e.project_id or 0, ""))  # noqa: B010
    registry.add_sentence_facts(page)  # e.g. the step an evidence event names: its text
    rows = [
        EventRow(
            event=e,
            project_name=projects.get(e.project_id or 0, ""),
            release_label=f"R-{e.release_id}" if e.release_id else "",
            release_url=release_page(e.release_id) if e.release_id else "",
            lines=data_lines(e.data),
        )
        for e in page
    ]
    return AuditPage(rows, older, newer, paged=before is not None or after is not None)


def release_events(release: Any) -> QuerySet[AuditEvent]:
    """A release's timeline, oldest first (only events of the release's own project)."""
    return AuditEvent.objects.filter(release_id=release.pk, project_id=release.project_id).order_by(
        "seq"
    )


def project_names(projects: Sequence[Any]) -> dict[int, str]:
    return {p.pk: p.name for p in projects}
