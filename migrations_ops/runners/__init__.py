"""Job bodies: ``migrations_ops.runners.<kind>`` exposes ``run(ctx: RunContext) -> RunResult``.

See base.py for the contract. A runner never touches the portal's models or Celery.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable

from migrations_ops.runners.base import RunContext, RunResult

_KIND = re.compile(r"^[a-z][a-z_]*$")
# Modules of this package that are not a job kind: what the runners share.
_SHARED = ("base", "target_copy")


def get_runner(kind: str) -> Callable[[RunContext], RunResult]:
    if not _KIND.match(kind) or kind in _SHARED:
        raise KeyError(f"no runner for job kind {kind!r}")
    try:
        module = importlib.import_module(f"migrations_ops.runners.{kind}")
    except ModuleNotFoundError as e:
        if e.name == f"migrations_ops.runners.{kind}":
            raise KeyError(f"no runner for job kind {kind!r}") from None
        raise
    runner: Callable[[RunContext], RunResult] = module.run
    return runner
