"""How the change log says this app's events in words, and its release picker.

Registered with the change log from ``ChecklistsConfig.ready()``: the audit package never
imports this app (see release_portal/audit/registry.py). Phrases use what each event
copied when it was written (its object's text, its release's name, its data), and for
evidence the text of the step it names (the event copied only the step's key), read for
a whole page at once by ``step_texts``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from checklists.templatetags.checklist_text import step_html
from release_portal.audit.registry import (
    EventType,
    event_data,
    register_event_groups,
    register_release_choices,
    register_sentence_facts,
)

RELEASES_IN_PICKER = 500  # newest first, across the person's projects


def _step_text(event: Any) -> str:
    # A checklist item's text is "<release id>: <step text>" (ChecklistItem.__str__).
    text = event.object_repr.split(": ", 1)[-1] if event.object_repr else ""
    return text or str((event.data or {}).get("step", ""))


def _item(verb: str) -> Any:
    def phrase(event: Any) -> str:
        step: StepText | None = getattr(event, "step_text", None)
        if step is None:  # the item is not found: the text it copied (cut at 80)
            return f"{verb} “{_step_text(event)}”"
        # As the release page says it: the whole step, its Markdown rendered, owner named.
        return step_html(f"{verb} “{step.text}”", step.owner)

    return phrase


@dataclass(frozen=True)
class StepText:
    text: str  # the runbook's Markdown
    owner: str  # the release owner's username, for "@<name>"


def evidence_phrase(kind: str, step_text: str) -> str:
    """``added job evidence to “<the step's text>”``: Markdown, as the step is written
    (the release page's timeline and the change log render it with ``step_html``)."""
    from checklists.models import Evidence

    label = Evidence.Kind(kind).label if kind in Evidence.Kind.values else kind
    return f"added {label.lower()} evidence to “{step_text}”"


def _evidence(event: Any) -> str:
    data = event_data(event)
    step: StepText | None = getattr(event, "step_text", None)
    if step is None:  # the step is not found (or the event named none): what it copied
        return f"added {data.get('kind', '')} evidence for {data.get('step', '')}"
    # As the release page's timeline says it: the step's Markdown rendered, owner named.
    return step_html(evidence_phrase(str(data.get("kind") or ""), step.text), step.owner)


def _naming(events: list[Any]) -> tuple[list[Any], list[Any]]:
    """The item events (each names its item) and evidence events (each copied its release
    and its step's key) among ``events``: those whose sentence names a step."""
    items = [
        e for e in events
        if e.action.startswith("item.") and e.object_type == "ChecklistItem"
        and str(e.object_id).isdigit()
    ]  # fmt: skip
    evidence = [
        e for e in events
        if e.action == "evidence.add" and e.release_id and isinstance(e.data, dict)
        and e.data.get("step")
    ]  # fmt: skip
    return items, evidence


def _name_steps(
    items: list[Any], evidence: list[Any], rows: Iterable[tuple[int, int, str, str, str]]
) -> None:
    """Set ``step_text`` on ``items`` and ``evidence`` from checklist ``rows``: (item id,
    release id, step key, step text, release owner's username)."""
    by_item: dict[int, StepText] = {}
    by_step: dict[tuple[int, str], StepText] = {}
    for pk, release_id, key, text, owner in rows:
        by_item[pk] = by_step[(release_id, key)] = StepText(text, owner or "")
    found = [(e, by_item.get(int(e.object_id))) for e in items]
    found += [(e, by_step.get((e.release_id, str(e.data["step"])))) for e in evidence]
    for event, step in found:
        if step is not None:
            event.step_text = step


def step_texts(events: list[Any]) -> None:
    """Set ``step_text`` (the step's whole text and the release owner's name, for
    ``@<name>``) on the item and evidence events among ``events``: one query for a page.
    Old events too: an item event names its item; an evidence event copied its release
    and its step's key (its sentence then names the item by its words, not that key)."""
    from django.db.models import Q

    from checklists.models import ChecklistItem

    items, evidence = _naming(events)
    if not items and not evidence:
        return
    wanted = Q(pk__in={int(e.object_id) for e in items})
    if evidence:
        wanted |= Q(
            release_id__in={e.release_id for e in evidence},
            step__key__in={str(e.data["step"]) for e in evidence},
        )
    rows = ChecklistItem.objects.filter(wanted).values_list(
        "pk", "release_id", "step__key", "step__text", "release__owner__username"
    )
    _name_steps(items, evidence, rows)


def step_texts_from(events: list[Any], checklist: Iterable[Any], owner: str) -> None:
    """``step_texts`` from one release's checklist already read (its items with their
    steps; ``owner`` its owner's username), for the release page's timeline: no query."""
    items, evidence = _naming(events)
    _name_steps(
        items, evidence, ((i.pk, i.release_id, i.step.key, i.step.text, owner) for i in checklist)
    )


def _label(choices: Any, value: Any) -> str:
    """A stored code as people name it ("Release owner" for "release_owner"), or the code
    itself when it is not one of ``choices`` (an old event)."""
    return str(dict(choices).get(value, value or ""))


def _signoff(sentence: str) -> Any:
    """A sign-off event's sentence, its kind in words: ``sentence`` has ``{kind}`` (and
    may have ``{user}``)."""

    def said(event: Any) -> str:
        from checklists.models import SignOff

        data = event_data(event)
        kind = _label(SignOff.Kind.choices, data.get("kind"))
        return sentence.format(kind=kind, user=data.get("user", ""))

    return said


def _state_moved(event: Any) -> str:
    from checklists.models import Release

    data = event_data(event)
    moved = (_label(Release.State.choices, data.get(k)) for k in ("from", "to"))
    return "moved the release from {} to {}".format(*moved)


def _count(value: Any) -> int:
    return len(value) if isinstance(value, list | dict) else int(value or 0)


def _migrations(event: Any) -> str:
    data = event.data or {}
    added, removed, changed = (_count(data.get(k)) for k in ("added", "removed", "changed"))
    return (
        f"uploaded the migrations ({data.get('files', '?')} files: {added} added, "
        f"{removed} removed, {changed} changed)"
    )


EVENTS = {
    "release.create": EventType("Release created", "created release {object}"),
    "release.state": EventType(
        "Release state changed",
        _state_moved,
        detail="{data[reason]}",
    ),
    "release.migrations": EventType("Migrations uploaded", _migrations),
    "release.bundle_prune": EventType(
        "Unused bundle removed", "removed the stored bundle {data[bundle]}, which nothing named"
    ),
    "release.report": EventType("Release report downloaded", "downloaded the release report"),
    "release.evidence_pack": EventType("Evidence pack downloaded", "downloaded the evidence pack"),
    "release.pull_request": EventType("Pull request reported", "reported the pull request"),
    "item.tick": EventType("Item ticked", _item("ticked"), detail="{data[comment]}"),
    "item.untick": EventType("Item reopened", _item("reopened"), detail="{data[reason]}"),
    "item.not_applicable": EventType(
        "Item not applicable", _item("marked not applicable"), detail="{data[reason]}"
    ),
    "item.stale": EventType("Item went stale", _item("marked stale"), detail="{data[reason]}"),
    "evidence.add": EventType("Evidence added", _evidence, detail="{data[summary]}"),
    "signoff.give": EventType("Sign-off given", _signoff("signed off as {kind}")),
    "signoff.stale": EventType(
        "Sign-off went stale", _signoff("marked {user}'s sign-off as {kind} stale"), "{data[why]}"
    ),
    "signoff.password_refused": EventType(
        "Sign-off refused", _signoff("gave a wrong password signing off as {kind}")
    ),
    "waiver.ask": EventType(
        "Waiver asked", "asked for a waiver of “{data[step]}”", detail="{data[reason]}"
    ),
    "waiver.approve": EventType(
        "Waiver approved",
        "approved {data[asked_by]}'s waiver of “{data[step]}”",
        detail="{data[reason]}",
    ),
    "waiver.revoke": EventType(
        "Waiver withdrawn", "withdrew the waiver of “{data[step]}”", detail="{data[why]}"
    ),
    "gate.break_glass_confirmed": EventType(
        "Break-glass confirmed", "confirmed the break-glass {object}"
    ),
    "gate.break_glass": EventType(
        "Break-glass", "opened the gate with break-glass", detail="{data[reason]}"
    ),
    "gate.break_glass_resolved": EventType(
        "Break-glass resolved", "resolved the break-glass {object}"
    ),
    "gate.break_glass_refused": EventType(
        "Break-glass refused", "was refused break-glass (wrong password)"
    ),
    "deployment.start": EventType("Deployment started", "started a {data[kind]} to {data[target]}"),
    "deployment.finish": EventType(
        "Deployment finished", "reported the {data[kind]} to {data[target]}", "{data[status]}"
    ),
    "freeze.create": EventType("Freeze window added", "added {object}", "{data[reason]}"),
    "freeze.delete": EventType("Freeze window removed", "removed {object}"),
    "runbook.import": EventType("Runbook imported", "imported runbook {object}"),
    "runbook.step_update": EventType(
        "Runbook step changed", "changed step {data[key]} of runbook v{data[version]}"
    ),
    "runbook.publish": EventType("Runbook published", "published runbook {object}"),
    "runbook.discard": EventType("Runbook draft discarded", "discarded the draft {object}"),
}


def release_choices(project_ids: list[int]) -> list[tuple[int, str, int]]:
    from checklists.models import Release

    releases = (
        Release.objects.filter(project_id__in=project_ids)
        .order_by("-pk")
        .values_list("pk", "title", "project_id")[:RELEASES_IN_PICKER]
    )
    return [(pk, f"R-{pk} {title}", project_id) for pk, title, project_id in releases]


GROUPS = {
    "release": "Releases",
    "item": "Checklist items",
    "evidence": "Evidence",
    "signoff": "Sign-offs",
    "waiver": "Waivers",
    "gate": "Gate and break-glass",
    "deployment": "Deployments",
    "freeze": "Freeze windows",
    "runbook": "Runbook versions",
}


def register() -> None:
    register_event_groups(EVENTS, GROUPS)
    register_release_choices(release_choices)
    register_sentence_facts(step_texts)
