"""Where the htmx tick's time goes: per part, per statement, wall clock and CPU.

    .venv/bin/python tests/bench/profile_tick.py [--ticks 60] [--cprofile]

Not a benchmark (``make bench`` does not run it; it prints no BENCH line): it ticks the
item of bench_release_page's release (13 items, 200 files, 8 jobs) through the test
client as that benchmark does, unticks it between runs (not measured), and prints the
median of each part (inclusive: a part's time includes the parts it calls), of each SQL
statement (wall time inside the database driver; BEGIN is sent by the driver on its own,
COMMIT is a part), and the login page beside it. Wall time minus CPU time is time spent
waiting, mostly on PostgreSQL.
``--cprofile`` prints the functions that cost the most CPU instead.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import pstats
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from django.db import connection
from django.test import Client, override_settings

from tests.bench import bench_release_page as bench

Clock = Callable[[], float]
CLOCKS: dict[str, Clock] = {"wall": time.perf_counter, "cpu": time.process_time}


class Parts:
    """Inclusive time of named parts within one request, per clock."""

    def __init__(self) -> None:
        self.current: dict[tuple[str, str], float] = defaultdict(float)
        self.kept: dict[tuple[str, str], list[float]] = defaultdict(list)

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.part(label):
                return original(*args, **kwargs)

        setattr(owner, name, timed)

    @contextmanager
    def part(self, label: str) -> Iterator[None]:
        started = {clock: read() for clock, read in CLOCKS.items()}
        try:
            yield
        finally:
            for clock, read in CLOCKS.items():
                self.current[(label, clock)] += read() - started[clock]

    def keep(self) -> None:
        for key, value in self.current.items():
            self.kept[key].append(value)
        self.current.clear()


def instrument(parts: Parts) -> None:
    from checklists import selectors, views
    from checklists.services import items, state
    from release_portal.audit import services as audit

    for owner, name, label in (
        (views, "_item_fragment", "view: the item's answer (evidence, waivers, template)"),
        (selectors, "with_evidence", "  evidence and waivers"),
        (views, "render", "  template"),
        (items, "_locked", "service: release and item locks (one statement, roles)"),
        (items, "audit_record", "service: change log (head lock, event, head)"),
        (items, "release_refresh", "service: release_refresh"),
        (state.digest, "checklist_snapshot", "  checklist part of the digest (one read)"),
        (state, "keep_digest_snapshot", "  digest snapshot kept"),
        (audit, "lock_head", "  chain head lock"),
    ):
        parts.wrap(owner, name, label)
    parts.wrap(views.item_services, "item_tick", "service: item_tick (whole, with COMMIT)")
    parts.wrap(connection, "commit", "  COMMIT")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ticks", type=int, default=60)
    parser.add_argument("--cprofile", action="store_true")
    args = parser.parse_args()
    with bench.test_database(), override_settings(ROOT_URLCONF=bench.__name__):
        from checklists.services import items as item_services

        release, item, _running, _lead, releng, _people = bench.build()
        engineer = Client()
        engineer.force_login(releng)
        anonymous = Client()
        url = f"/releases/{release.pk}/items/{item.pk}/tick"
        untick = item_services.item_untick  # before instrument() wraps anything
        parts = Parts()
        statements: dict[tuple[int, str], list[float]] = defaultdict(list)
        profile = cProfile.Profile(time.process_time) if args.cprofile else None
        if profile is None:
            instrument(parts)

        def tick(measure: bool) -> None:
            item.refresh_from_db()
            parts.current.clear()  # the previous untick ran through the same parts
            seen: list[tuple[str, float]] = []

            def statement(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
                started = time.perf_counter()
                try:
                    return execute(sql, params, many, context)
                finally:
                    seen.append((sql, time.perf_counter() - started))

            with connection.execute_wrapper(statement), parts.part("TOTAL (the POST)"):
                if profile is not None and measure:
                    profile.enable()
                response = engineer.post(url, {"revision": item.revision},
                                         headers={"HX-Request": "true"})  # fmt: skip
                if profile is not None:
                    profile.disable()
            assert response.status_code == 200, response.status_code
            with parts.part("login page (baseline)"):
                anonymous.get("/accounts/login/")
            if measure:
                parts.keep()
                for n, (sql, seconds) in enumerate(seen):
                    statements[(n, " ".join(sql.split())[:90])].append(seconds)
            item.refresh_from_db()
            untick(item=item, user=releng, reason="profile", expected_revision=item.revision)

        for n in range(args.ticks + 10):
            tick(measure=n >= 10)  # the first ten warm up

    if profile is not None:
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(60)
        sys.stdout.write(out.getvalue())
        return
    sys.stdout.write(f"{'part':58} {'wall ms':>8} {'cpu ms':>8}\n")
    for label in dict.fromkeys(label for label, _ in parts.kept):
        wall = statistics.median(parts.kept[(label, "wall")]) * 1000
        cpu = statistics.median(parts.kept[(label, "cpu")]) * 1000
        sys.stdout.write(f"{label:58} {wall:8.2f} {cpu:8.2f}\n")
    sys.stdout.write(f"\n{len(statements)} statements through the driver (wall ms):\n")
    for (_n, sql), times in sorted(statements.items()):
        sys.stdout.write(f"{statistics.median(times) * 1000:7.3f}  {sql}\n")
    total = sum(statistics.median(t) for t in statements.values()) * 1000
    sys.stdout.write(f"{total:7.3f}  in all\n")


if __name__ == "__main__":
    main()
