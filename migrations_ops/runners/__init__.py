"""Job bodies. Each module exposes ``run(ctx: RunContext) -> RunResult``; see base.py.

``RUNNERS`` maps a job kind to its module path, imported on use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from migrations_ops.runners.base import RunContext, RunResult

RUNNERS: dict[str, str] = {}


def get_runner(kind: str) -> Callable[[RunContext], RunResult]:
    try:
        module = RUNNERS[kind]
    except KeyError:
        raise KeyError(f"no runner for job kind {kind!r}") from None
    return importlib.import_module(module).run  # type: ignore[no-any-return]
