"""Runbook fixtures: the shared runbook as bytes, imported as a draft, or published."""

from __future__ import annotations

from pathlib import Path

import pytest

from checklists.runbooks.services import runbook_import, runbook_publish

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.fixture
def runbook_v1_bytes() -> bytes:
    return (FIXTURES / "runbook_v1.md").read_bytes()


@pytest.fixture
def runbook_v1_text(runbook_v1_bytes) -> str:
    return runbook_v1_bytes.decode()


@pytest.fixture
def draft(project, platform_lead, runbook_v1_bytes):
    return runbook_import(project=project, source_bytes=runbook_v1_bytes, user=platform_lead)


@pytest.fixture
def published(draft, platform_lead):
    return runbook_publish(version=draft, user=platform_lead, notes="First version in the portal.")


def edited(text: str, old: str, new: str) -> str:
    assert old in text, f"fixture text not found: {old!r}"
    return text.replace(old, new)
