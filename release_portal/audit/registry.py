"""What the domain tells the change log, so the log reads in words without importing it.

The audit package imports no domain module. Each domain app registers, from its
``AppConfig.ready()``:

- **event types**: ``register_events({"item.tick": EventType("Item ticked", "ticked
  {object}", detail="{data[comment]}")})``: a label for the filter, and how to say the
  event in words. The phrase follows the actor's name, the page adds the release, then
  the detail after a colon (``qa ticked “RLS Docker test suite passed” on release R-12:
  all green``). Phrase and detail are format strings over the event's own copied values
  (``{object}``, ``{object_type}``, ``{release}``, ``{project}``, and ``{data[key]}``),
  or functions of the event. A value the event lacks reads as an empty string, and a
  phrase that fails falls back to the generic one: a sentence never breaks the page;
- **release choices**: ``register_release_choices(fn)``, ``fn(project_ids)`` giving
  ``(release_id, label, project_id)`` for the filter's release picker;
- **sentence facts**: ``register_sentence_facts(fn)``, ``fn(events)`` given a whole page
  of events at once, sets on some of them what their phrase needs and the event did not
  copy (an evidence event copied its step's key, not the step's text), in one query.

Everything else a sentence says comes from the event itself (names were copied when it
was written), so the log reads the same after the release or the item is renamed or
gone; a phrase that uses a looked-up fact falls back to what the event copied. A phrase
may return HTML it vouches for (a ``SafeString``, e.g. a step's sanitised Markdown): it
is shown as such; any other phrase is text, escaped by the page.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.safestring import SafeData, mark_safe

logger = logging.getLogger(__name__)

Phrase = str | Callable[[Any], str]
ReleaseChoices = Callable[[list[int]], Iterable[tuple[int, str, int]]]
SentenceFacts = Callable[[list[Any]], None]


@dataclass(frozen=True)
class EventType:
    label: str  # "Item ticked": for the event-type filter
    phrase: Phrase = ""  # "ticked {object}": what the actor did, in words
    detail: Phrase = ""  # "{data[reason]}": said after the release, following a colon


EVENT_TYPES: dict[str, EventType] = {}
GROUPS: dict[str, str] = {}  # "item" -> "Checklist items"
_release_choices: list[ReleaseChoices] = []
_sentence_facts: list[SentenceFacts] = []


def register_events(
    events: Mapping[str, EventType], *, group: tuple[str, str] | None = None
) -> None:
    """Add (or replace) event types; ``group`` = (prefix, label) names their family."""
    EVENT_TYPES.update(events)
    if group is not None:
        GROUPS[group[0]] = group[1]


def register_event_groups(events: Mapping[str, EventType], groups: Mapping[str, str]) -> None:
    """Add ``events`` family by family: ``groups`` maps each prefix ("item") to its label;
    an event whose prefix has no group is left out."""
    for prefix, label in groups.items():
        family = {k: v for k, v in events.items() if k.split(".", 1)[0] == prefix}
        register_events(family, group=(prefix, label))


def register_release_choices(provider: ReleaseChoices) -> None:
    if provider not in _release_choices:
        _release_choices.append(provider)


def register_sentence_facts(provider: SentenceFacts) -> None:
    if provider not in _sentence_facts:
        _sentence_facts.append(provider)


def add_sentence_facts(events: list[Any]) -> None:
    """Let each domain set on ``events`` (one page of them) what their phrases look up."""
    for provider in _sentence_facts:
        provider(events)


def release_choices(project_ids: list[int]) -> list[tuple[int, str, int]]:
    out: list[tuple[int, str, int]] = []
    for provider in _release_choices:
        out.extend(provider(project_ids))
    return out


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


class _Values(string.Formatter):
    """``{data[key]}`` and friends, with a missing value as an empty string."""

    def get_value(self, key: Any, args: Any, kwargs: Any) -> Any:
        return kwargs.get(key, "") if isinstance(key, str) else ""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        try:
            return super().get_field(field_name, args, kwargs)
        except (KeyError, IndexError, AttributeError, TypeError):
            return "", field_name


_formatter = _Values()


def _show(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, dict | list):
        return (
            ", ".join(f"{k}: {v}" for k, v in value.items())
            if isinstance(value, dict)
            else ", ".join(map(str, value))
        )
    return str(value)


def event_data(event: Any) -> dict[str, Any]:
    """An event's data for a phrase: its dict, or an empty one (an odd old event)."""
    return event.data if isinstance(event.data, dict) else {}


def words(action: str) -> str:
    """``release.preflight_start`` -> ``release preflight start`` (the generic phrase)."""
    return action.replace(".", " ").replace("_", " ")


def _values(event: Any) -> dict[str, Any]:
    return {
        "object": f"“{event.object_repr}”" if event.object_repr else "",
        "object_type": event.object_type,
        "release": event.release_repr,
        "project": getattr(event, "project_name", ""),
        "data": _Blank({k: _show(v) for k, v in (event.data or {}).items()})
        if isinstance(event.data, dict)
        else _Blank(),
    }


def _say(phrase: Phrase, event: Any) -> str:
    try:
        text = phrase(event) if callable(phrase) else _formatter.format(phrase, **_values(event))
    except Exception:  # a domain's phrase must never break the change log
        logger.exception("the phrase for %s failed", event.action)
        return ""
    joined = " ".join(str(text).split())
    return mark_safe(joined) if isinstance(text, SafeData) else joined  # noqa: S308 - it was safe


def phrase_for(event: Any) -> str:
    """What ``event``'s actor did, in words (without the actor's name)."""
    kind = EVENT_TYPES.get(event.action)
    text = _say(kind.phrase, event) if kind is not None and kind.phrase else ""
    if text:
        return text
    name = f"“{event.object_repr}”" if event.object_repr else ""
    return f"{words(event.action)} {name}".strip()


def detail_for(event: Any) -> str:
    """What follows the sentence after a colon (a reason, a summary), or nothing."""
    kind = EVENT_TYPES.get(event.action)
    return _say(kind.detail, event).strip(" :") if kind is not None and kind.detail else ""


def label_for(action: str) -> str:
    kind = EVENT_TYPES.get(action)
    return kind.label if kind else words(action).capitalize()


def event_type_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """The filter's event types, grouped by family: [(group label, [(value, label)])]."""
    families: dict[str, list[tuple[str, str]]] = {}
    for action in sorted(EVENT_TYPES):
        prefix = action.split(".", 1)[0]
        families.setdefault(prefix, []).append((action, EVENT_TYPES[action].label))
    out = []
    for prefix, options in sorted(families.items(), key=lambda kv: GROUPS.get(kv[0], kv[0])):
        label = GROUPS.get(prefix, prefix.capitalize())
        out.append((label, [(f"{prefix}.*", f"Any: {label.lower()}"), *options]))
    return out
