"""`make bench`: run every tests/bench/bench_*.py and print one table of ratios.

Each script measures ours against a baseline side by side in one run (machines are
noisy: only ratios from the same run mean anything) and prints `BENCH {json}` lines.
The table goes to stdout and to docs/benchmarks.md with the machine it ran on.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb // 1024 // 1024} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{cpu}, {os.cpu_count()} CPUs{mem}, Python {platform.python_version()}, {system}"


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def main() -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    only = sys.argv[1:]
    rows = []
    failed = []
    for script in scripts:
        if only and not any(o in script.name for o in only):
            continue
        sys.stdout.write(f"== {script.name}\n")
        sys.stdout.flush()
        proc = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True,
                              text=True, check=False)  # fmt: skip
        sys.stdout.write(proc.stdout)
        if proc.returncode != 0:
            failed.append(script.name)
            sys.stdout.write(proc.stderr[-3000:])
        for line in proc.stdout.splitlines():
            if line.startswith("BENCH "):
                rows.append({"script": script.name, **json.loads(line[6:])})
    header = "| benchmark | ours | baseline | ratio | unit | note |\n|---|---:|---:|---:|---|---|\n"
    body = "".join(
        f"| {r['name']} | {fmt(r['ours'])} | {fmt(r['baseline'])} | "
        f"{(fmt(r['ratio']) + 'x') if r['ratio'] is not None else '-'} | {r['unit']} | "
        f"{r.get('note', '')} |\n"
        for r in rows
    )
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    doc = (
        "# Benchmarks\n\nThe latest `make bench` run. Ratios compare our code with a baseline "
        "measured side by side in the same run (our page vs a trivial Django view, our backup vs "
        "raw `pg_dump`, ...): absolute numbers depend on the machine, ratios much less.\n\n"
        f"Ran {stamp} on: {machine()}.\n\n" + header + body
    )
    sys.stdout.write("\n" + header + body)
    (ROOT / "docs").mkdir(exist_ok=True)
    (ROOT / "docs" / "benchmarks.md").write_text(doc)
    if failed:
        sys.stdout.write(f"\nFailed: {', '.join(failed)}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
