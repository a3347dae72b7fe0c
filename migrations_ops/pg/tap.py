"""Read TAP, the output of pgTAP tests (what ``pg_prove`` reads), into assertions.

Handles the plan (``1..N``), ``ok``/``not ok`` lines with their number and description,
``# SKIP`` and ``# TODO`` directives, ``#`` diagnostics (attached to the assertion
before them) and ``Bail out!``. A file passes when nothing bailed out, every assertion
passed (a failing TODO does not count) and the plan, if any, matches the count.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

_PLAN = re.compile(r"^1\.\.(\d+)(?:\s*#\s*(.*))?$")
_RESULT = re.compile(
    r"^(?P<not>not )?ok\b\s*(?P<number>\d+)?\s*(?:-\s*)?(?P<description>.*?)"
    r"(?:\s+#\s*(?P<directive>SKIP|TODO)\b\s*(?P<reason>.*))?$",
    re.IGNORECASE,
)
_BAIL_OUT = re.compile(r"^Bail out!\s*(.*)$")


@dataclass
class Assertion:
    number: int
    ok: bool
    description: str
    directive: str | None = None  # "SKIP" or "TODO"
    reason: str = ""
    diagnostics: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.ok or self.directive == "TODO"


@dataclass
class TapResult:
    planned: int | None = None
    assertions: list[Assertion] = field(default_factory=list)
    bail_out: str | None = None
    comments: list[str] = field(default_factory=list)  # diagnostics before any assertion

    @property
    def is_tap(self) -> bool:
        """Whether the output held any TAP at all."""
        return self.planned is not None or bool(self.assertions) or self.bail_out is not None

    @property
    def failed(self) -> list[Assertion]:
        return [a for a in self.assertions if not a.passed]

    @property
    def plan_problem(self) -> str | None:
        if self.planned is not None and self.planned != len(self.assertions):
            return f"planned {self.planned} tests but ran {len(self.assertions)}"
        return None

    @property
    def passed(self) -> bool:
        return (
            self.bail_out is None
            and not self.failed
            and self.plan_problem is None
            and bool(self.assertions or self.planned == 0)
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "planned": self.planned,
            "passed": self.passed,
            "bail_out": self.bail_out,
            "plan_problem": self.plan_problem,
            "assertions": [asdict(a) | {"passed": a.passed} for a in self.assertions],
        }


def parse_tap(output: str) -> TapResult:
    result = TapResult()
    for raw in output.splitlines():
        line = raw.strip()
        if not line:
            continue
        plan = _PLAN.match(line)
        if plan:
            result.planned = int(plan.group(1))
            continue
        bail = _BAIL_OUT.match(line)
        if bail:
            result.bail_out = bail.group(1) or "bailed out"
            continue
        if line.startswith("#"):
            text = line.lstrip("#").strip()
            target = result.assertions[-1].diagnostics if result.assertions else result.comments
            target.append(text)
            continue
        found = _RESULT.match(line)
        if found:
            number = found.group("number")
            directive = found.group("directive")
            result.assertions.append(
                Assertion(
                    number=int(number) if number else len(result.assertions) + 1,
                    ok=found.group("not") is None,
                    description=found.group("description").strip(),
                    directive=directive.upper() if directive else None,
                    reason=(found.group("reason") or "").strip(),
                )
            )
    return result
