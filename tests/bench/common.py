"""Shared by the benchmark scripts: a throwaway database, timing, and the result line.

Each script prints, besides its own table, one line per measurement:

    BENCH {"name": ..., "ours": ..., "baseline": ..., "ratio": ..., "unit": ..., "note": ...}

`make bench` (tests/bench/run.py) runs every script and gathers those lines into one
table, written to docs/benchmarks.md with the machine it ran on.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def django_setup(tag: str) -> None:
    """Settings as the tests use them, with a test database of this script's own."""
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    os.environ["TEST_DATABASE_NAME"] = f"rp_bench_{tag}_{os.getpid()}"
    import tests.services  # noqa: F401  (DATABASE_URL, keys, broker as in the tests)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "release_portal.settings")
    import warnings

    import django
    from django.test.utils import setup_test_environment

    warnings.filterwarnings("ignore", "No directory at")  # whitenoise, before collectstatic

    django.setup()
    setup_test_environment()  # the test client's host, locmem mail


@contextmanager
def test_database() -> Iterator[None]:
    """Create and migrate this script's database; drop it afterwards."""
    from django.test.utils import setup_databases, teardown_databases

    config = setup_databases(verbosity=0, interactive=False)
    try:
        yield
    finally:
        teardown_databases(config, verbosity=0)


def timed(fn: Callable[[], object], *, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def side_by_side(
    ours: Callable[[], object], baseline: Callable[[], object], *, rounds: int, repeat: int
) -> tuple[float, float]:
    """Median seconds per call of each, alternating which goes first every round."""
    a: list[float] = []
    b: list[float] = []
    for r in range(rounds):
        if r % 2:
            b += timed(baseline, repeat=repeat)
            a += timed(ours, repeat=repeat)
        else:
            a += timed(ours, repeat=repeat)
            b += timed(baseline, repeat=repeat)
    return statistics.median(a), statistics.median(b)


def report(name: str, ours: float, baseline: float | None, unit: str, note: str = "") -> None:
    ratio = (ours / baseline) if baseline else None
    line = {"name": name, "ours": ours, "baseline": baseline, "ratio": ratio, "unit": unit,
            "note": note}  # fmt: skip
    sys.stdout.write("BENCH " + json.dumps(line) + "\n")
    sys.stdout.flush()
