"""Waiting for something another thread, process or browser does: a deadline to fail at,
not a speed to assert (speed belongs in tests/bench)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_until(check: Callable[[], Any], *, seconds: float, what: str) -> Any:
    """``check()``'s first true value, tried every 0.1 s; an AssertionError naming ``what``
    when none came within ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.1)
