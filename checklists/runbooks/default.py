"""The runbook the portal ships with: the demo imports it as version 1."""

from __future__ import annotations

from pathlib import Path

DEFAULT_RUNBOOK = Path(__file__).with_name("default_runbook.md")


def default_runbook_source() -> bytes:
    return DEFAULT_RUNBOOK.read_bytes()
