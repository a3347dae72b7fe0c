"""Sentences the domain registers, and the rule that the audit package imports no domain."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import pytest

from release_portal.audit import registry
from release_portal.audit.registry import EventType

AUDIT = Path(__file__).resolve().parents[2] / "release_portal" / "audit"


def event(action: str, **fields):
    base = {"object_repr": "", "object_type": "", "release_repr": "", "data": {}}
    return SimpleNamespace(action=action, **{**base, **fields})


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setattr(registry, "EVENT_TYPES", {})
    monkeypatch.setattr(registry, "GROUPS", {})
    return registry


def test_a_phrase_reads_the_events_own_values_and_blanks_what_it_lacks(registered):
    registered.register_events(
        {"item.tick": EventType("Item ticked", "ticked {object} as {data[who]}", "{data[why]}")}
    )
    tick = event("item.tick", object_repr="Backup taken", data={"who": "qa"})
    assert registered.phrase_for(tick) == "ticked “Backup taken” as qa"
    assert registered.detail_for(tick) == ""  # no "why" in this event's data


def test_a_phrase_that_fails_falls_back_to_the_action_in_words(registered):
    def broken(e):
        raise KeyError("boom")

    registered.register_events({"job.finish": EventType("Job finished", broken)})
    assert registered.phrase_for(event("job.finish", object_repr="Dry run #4")) == (
        "job finish “Dry run #4”"
    )
    assert registered.label_for("never.registered") == "Never registered"


def test_event_types_come_grouped_with_a_whole_family_first(registered):
    registered.register_events(
        {"item.tick": EventType("Item ticked"), "item.untick": EventType("Item reopened")},
        group=("item", "Checklist items"),
    )
    assert registered.event_type_choices() == [
        ("Checklist items", [("item.*", "Any: checklist items"), ("item.tick", "Item ticked"),
                             ("item.untick", "Item reopened")]),
    ]  # fmt: skip


def test_the_domain_registers_its_sentences_and_its_release_picker():
    # Registered by checklists and migrations_ops from their AppConfig.ready().
    assert registry.EVENT_TYPES["item.tick"].label == "Item ticked"
    assert registry.EVENT_TYPES["job.finish"].label == "Job finished"
    assert registry._release_choices  # the release picker's provider


def test_the_audit_package_imports_no_domain_module():
    """Layering: audit may read migrations_ops.models (projects), nothing else of the domain."""
    offenders = []
    for path in AUDIT.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.startswith("checklists") or (
                    name.startswith("migrations_ops") and name != "migrations_ops.models"
                ):
                    offenders.append(f"{path.relative_to(AUDIT)}: {name}")
    assert offenders == []
