"""TEST HELPER ONLY: a stand-in for ``checklists.gate.gate_status`` (the API helper's gate).

Used only while the real gate selector is not on main. It follows the real gate's
contract (``.open``, ``.digest``, ``.reasons``) with its simplest rule: open when the
release is approved. Tests approve releases for real (items settled, owner's sign-off),
so they keep passing unchanged once the real selector replaces this one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FakeGate:
    open: bool
    digest: str
    reasons: list[str] = field(default_factory=list)


def fake_gate_status(release: Any) -> FakeGate:
    release.refresh_from_db(fields=["state", "digest"])
    if release.state == "approved":
        return FakeGate(open=True, digest=release.digest)
    return FakeGate(open=False, digest=release.digest, reasons=[f"the release is {release.state}"])


def real_gate_exists() -> bool:
    try:
        import checklists.gate  # noqa: F401
    except ImportError:
        return False
    return True
