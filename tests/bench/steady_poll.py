"""The log poll against a trivial view, interleaved one request at a time: steadier than
the blocks of ``bench_release_page`` on a noisy machine.

    .venv/bin/python tests/bench/steady_poll.py [--polls 300] [--rounds 3]

Not a benchmark of its own (``make bench`` does not run it; it prints no BENCH line): it
builds bench_release_page's data (a running job with no new lines, the common poll),
then times a poll and a trivial view alternately, ``--polls`` of each per round, and
prints the throughput ratio per round. Run it from another checkout (its own root comes
first on ``sys.path``) to put two versions of the code side by side.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from django.test import Client, override_settings

from tests.bench import bench_release_page as bench


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--polls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with bench.test_database(), override_settings(ROOT_URLCONF=bench.__name__):
        _release, _item, running, lead, _releng, _people = bench.build()
        client = Client()
        client.force_login(lead)
        poll_url = f"/jobs/{running.pk}/log?after=0"

        def poll() -> None:
            response = client.get(poll_url, headers={"HX-Request": "true"})
            assert response.status_code == 200, response.status_code

        def trivial() -> None:
            assert client.get("/bench/trivial").status_code == 200

        for _ in range(50):  # warm up: connection, prepared statements, templates
            poll()
            trivial()
        for n in range(args.rounds):
            spent = {poll: 0.0, trivial: 0.0}
            for _ in range(args.polls):
                for call in (poll, trivial):
                    started = time.perf_counter()
                    call()
                    spent[call] += time.perf_counter() - started
            ours, base = spent[poll] / args.polls, spent[trivial] / args.polls
            sys.stdout.write(
                f"round {n + 1}: poll {ours * 1000:.2f} ms, trivial view {base * 1000:.2f} ms, "
                f"throughput ratio {base / ours:.2f}x\n"
            )


if __name__ == "__main__":
    main()
