"""What changed between two runbook versions, step by step.

Steps are matched by key first (keys are stable while a step's opening words are), then
the leftovers by text similarity, so a reworded step reads as "changed", not as one
removed and one added. Works on RunbookStep rows or anything with the same attributes.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

SIMILAR_ENOUGH = 0.6
COMPARED_FIELDS = ("text", "section", "owner", "evidence_kinds", "requires_evidence", "is_signoff")


@dataclass
class StepChange:
    status: str  # added, removed, changed, unchanged
    old: Any = None
    new: Any = None
    fields: list[str] = field(default_factory=list)
    matched_by: str = ""  # key or similarity

    @property
    def key(self) -> str:
        return (self.new or self.old).key


@dataclass
class RunbookDiff:
    changes: list[StepChange]

    def _of(self, status: str) -> list[StepChange]:
        return [c for c in self.changes if c.status == status]

    @property
    def added(self) -> list[StepChange]:
        return self._of("added")

    @property
    def removed(self) -> list[StepChange]:
        return self._of("removed")

    @property
    def changed(self) -> list[StepChange]:
        return self._of("changed")

    @property
    def unchanged(self) -> list[StepChange]:
        return self._of("unchanged")

    @property
    def has_changes(self) -> bool:
        return any(c.status != "unchanged" for c in self.changes)


def _value(step: Any, name: str) -> Any:
    value = getattr(step, name)
    return list(value) if name == "evidence_kinds" else value


def _differences(old: Any, new: Any) -> list[str]:
    return [name for name in COMPARED_FIELDS if _value(old, name) != _value(new, name)]


def similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a.casefold(), b.casefold()).ratio()


def diff_steps(old_steps: list[Any], new_steps: list[Any]) -> RunbookDiff:
    """Every step of both versions, in the new version's order, removed ones at the end."""
    old_by_key = {s.key: s for s in old_steps}
    pairs: dict[int, tuple[Any, str]] = {}  # new index → (old step, how matched)
    used: set[int] = set()
    for i, new in enumerate(new_steps):
        old = old_by_key.get(new.key)
        if old is not None:
            pairs[i] = (old, "key")
            used.add(id(old))
    leftovers_old = [s for s in old_steps if id(s) not in used]
    candidates = []
    for i, new in enumerate(new_steps):
        if i in pairs:
            continue
        for old in leftovers_old:
            score = similarity(old.text, new.text)
            if score >= SIMILAR_ENOUGH:
                candidates.append((score, i, old))
    # Best pairs first, each step used once.
    for _score, i, old in sorted(candidates, key=lambda c: -c[0]):
        if i in pairs or id(old) in used:
            continue
        pairs[i] = (old, "similarity")
        used.add(id(old))

    changes: list[StepChange] = []
    for i, new in enumerate(new_steps):
        if i not in pairs:
            changes.append(StepChange("added", new=new))
            continue
        old, how = pairs[i]
        fields = _differences(old, new)
        status = "changed" if fields or how == "similarity" else "unchanged"
        if how == "similarity" and "key" not in fields:
            fields.insert(0, "key")
        changes.append(StepChange(status, old=old, new=new, fields=fields, matched_by=how))
    changes.extend(StepChange("removed", old=s) for s in old_steps if id(s) not in used)
    return RunbookDiff(changes)


def source_diff(old: str, new: str, *, context: int = 2) -> list[dict[str, Any]]:
    """A unified diff of the markdown, as rows a template can colour: kind, text."""
    rows: list[dict[str, Any]] = []
    lines = difflib.unified_diff(
        old.splitlines(), new.splitlines(), "published", "draft", n=context, lineterm=""
    )
    for line in list(lines)[2:]:
        if line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "same"
        rows.append({"kind": kind, "text": line})
    return rows
