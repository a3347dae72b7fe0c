"""Benchmark the change log at scale: bulk load, chain verification, CSV export, pages.

A script, not a test::

    .venv/bin/python tests/bench/bench_audit.py [--events 1000000]

It creates a throwaway database on the system PostgreSQL (``BENCH_SERVER_URL``, default
``postgresql://postgres@127.0.0.1:5432/postgres``), migrates it, writes N events with a
valid chain (hashed in Python, loaded with COPY: ``audit_record`` takes a row lock per
event and would take an hour), then measures:

- ``audit_verify``: events per second and peak memory;
- the CSV export through the real view (login, permission, audit event, streaming
  response): time and peak memory, for 10% and for 100% of the events side by side;
  constant memory shows as the same peak for both;
- the change-log page: the newest page and a page deep in the log (keyset pagination
  costs the same anywhere).

Peak memory is each child process's ``ru_maxrss``, next to a baseline child that only
starts Django and renders one page. The database is dropped at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
SERVER_URL = os.environ.get("BENCH_SERVER_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SMALL_SHARE = 10  # every 10th event goes to the small project
# Keys, uploads and static files of the throwaway portal (children inherit it).
DATA_DIR = os.environ.get("BENCH_DATA_DIR") or tempfile.mkdtemp(prefix="bench_audit_")
Path(DATA_DIR, "staticfiles").mkdir(parents=True, exist_ok=True)
os.environ["BENCH_DATA_DIR"] = DATA_DIR


def database_url(name: str) -> str:
    return SERVER_URL.rsplit("/", 1)[0] + "/" + name


def django_env(name: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url(name),
        "DEBUG": "0",
        "HTTPS": "0",
        "ALLOWED_HOSTS": "testserver",
        "SECRET_KEY": "bench-secret-key-" + "x" * 40,
        "AUDIT_HMAC_KEY": "bench-audit-hmac-key-" + "y" * 30,
        "CELERY_BROKER_URL": "memory://",
        "STATIC_MANIFEST": "0",
        "PORTAL_DATA_DIR": DATA_DIR,
        "LOG_LEVEL": "WARNING",
    }


def setup_django(name: str) -> None:
    os.environ.update(django_env(name))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "release_portal.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


# --- loading --------------------------------------------------------------------------------


def load_events(n: int, small_project: int, big_project: int) -> float:
    """Write ``n`` chained events with COPY; return the seconds it took."""
    from django.db import connection

    from release_portal.audit.chain import HASHED_FIELDS, event_hash
    from release_portal.audit.models import GENESIS_HASH
    from release_portal.audit.services import hmac_key

    key = hmac_key()
    columns = [*HASHED_FIELDS, "hash"]
    start_at = datetime(2026, 1, 1, tzinfo=UTC)
    actions = ["item.tick", "item.untick", "job.enqueue", "signoff.give", "release.move"]
    prev = GENESIS_HASH
    started = time.perf_counter()
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor, for COPY
        copy_sql = f"COPY audit_auditevent ({', '.join(columns)}) FROM STDIN"
        with raw.copy(copy_sql) as copy:
            for seq in range(1, n + 1):
                event = {
                    "seq": seq,
                    "at": start_at + timedelta(milliseconds=seq * 37),
                    "actor_kind": "user",
                    "actor_id": seq % 17,
                    "actor_name": f"person{seq % 17}",
                    "action": actions[seq % len(actions)],
                    "object_type": "ChecklistItem",
                    "object_id": str(seq % 997),
                    "object_repr": f"Item {seq % 997}: =SUM(A1) <b>check</b>",
                    "project_id": small_project if seq % SMALL_SHARE == 0 else big_project,
                    "release_id": seq % 50 + 1,
                    "data": {"i": seq, "state": {"from": "open", "to": "done"}, "note": "é"},
                    "prev_hash": prev,
                }
                event["hash"] = prev = event_hash(key, event)
                copy.write_row(
                    [json.dumps(event["data"]) if c == "data" else event[c] for c in columns]
                )
        cursor.execute(
            "INSERT INTO audit_auditchainhead (id, seq, hash) VALUES (1, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash",
            [n, prev],
        )
    return time.perf_counter() - started


# --- children: one measurement each, in a fresh process --------------------------------------


def child(name: str, task: str, project: int | None) -> dict:
    setup_django(name)
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    from release_portal.audit.verify import audit_verify

    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-auditor"))
    client.get(reverse("audit_log"))  # warm: imports, templates, connection
    started = time.perf_counter()
    out: dict = {}
    if task == "verify":
        result = audit_verify()
        out = {"ok": result.ok, "checked": result.checked}
    elif task == "export":
        params = {"project": project} if project else {}
        response = client.get(reverse("audit_export_csv"), params)
        size = rows = 0
        for chunk in response.streaming_content:
            size += len(chunk)
            rows += chunk.count(b"\n")
        response.close()
        out = {"bytes": size, "lines": rows, "streaming": response.streaming}
    out.update(seconds=time.perf_counter() - started, peak_rss_mb=peak_rss_mb())
    return out


def run_child(name: str, task: str, project: int | None = None) -> dict:
    command = [sys.executable, __file__, "--child", task, "--database", name]
    if project:
        command += ["--project", str(project)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def time_page(client, url: str, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url)
        best = min(best, time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
    return best


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--child", choices=["verify", "export", "baseline"])
    parser.add_argument("--database")
    parser.add_argument("--project", type=int)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.database, args.child, args.project)))
        return

    name = f"bench_audit_{os.getpid()}"
    with psycopg.connect(SERVER_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        measure(name, args.events)
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(SERVER_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(DATA_DIR, ignore_errors=True)


def measure(name: str, n: int) -> None:
    setup_django(name)
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from migrations_ops.models import Project
    from release_portal.accounts.models import Membership

    call_command("migrate", verbosity=0)
    small = Project.objects.create(name="Small", slug="small")
    big = Project.objects.create(name="Big", slug="big")
    auditor = get_user_model().objects.create_user("bench-auditor", password="x-bench-pass-1")
    for project in (small, big):
        Membership.objects.create(user=auditor, project=project, role="auditor")

    load_seconds = load_events(n, small.pk, big.pk)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE audit_auditevent")
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('audit_auditevent'))")
        table_size = cursor.fetchone()[0]
    connection.close()

    baseline = run_child(name, "baseline")
    verify = run_child(name, "verify")
    small_export = run_child(name, "export", small.pk)
    full_export = run_child(name, "export")

    client = Client()
    client.force_login(auditor)
    url = reverse("audit_log")
    newest = time_page(client, url)
    deep = time_page(client, f"{url}?before={n // 2}")
    deep_small = time_page(client, f"{url}?project={small.pk}&before={n // 2}")

    rows = [
        ("bulk load (hash in Python + COPY)", f"{load_seconds:.1f} s",
         f"{n / load_seconds:,.0f} events/s", ""),
        ("audit_verify, whole chain", f"{verify['seconds']:.1f} s",
         f"{verify['checked'] / verify['seconds']:,.0f} events/s",
         f"{verify['peak_rss_mb']:.0f} MB"),
        (f"CSV export, {n // SMALL_SHARE:,} events (10%)", f"{small_export['seconds']:.1f} s",
         f"{small_export['bytes'] / 2**20:,.0f} MiB", f"{small_export['peak_rss_mb']:.0f} MB"),
        (f"CSV export, {n:,} events (100%)", f"{full_export['seconds']:.1f} s",
         f"{full_export['bytes'] / 2**20:,.0f} MiB", f"{full_export['peak_rss_mb']:.0f} MB"),
        ("baseline process (Django + one page)", "", "", f"{baseline['peak_rss_mb']:.0f} MB"),
        ("change-log page, newest", f"{newest * 1000:.1f} ms", "", ""),
        (f"change-log page, before={n // 2:,}", f"{deep * 1000:.1f} ms",
         f"x{deep / newest:.2f} of newest", ""),
        (f"  ... one project (10%), before={n // 2:,}", f"{deep_small * 1000:.1f} ms",
         f"x{deep_small / newest:.2f} of newest", ""),
    ]  # fmt: skip
    print(f"\nChange log benchmark: {n:,} events, table {table_size}, PostgreSQL {SERVER_URL}")
    print(f"{'measure':<44} {'time':>10} {'rate / size':>20} {'peak RSS':>9}")
    print("-" * 86)
    for label, seconds, rate, memory in rows:
        print(f"{label:<44} {seconds:>10} {rate:>20} {memory:>9}")
    ratio = full_export["peak_rss_mb"] / small_export["peak_rss_mb"]
    print("-" * 86)
    print(f"export peak memory, 100% vs 10% of the events: x{ratio:.2f} (constant memory: ~1)")
    for line in [
        {"name": f"audit_verify of {n:,} events", "ours": n / verify["seconds"], "baseline": None,
         "ratio": None, "unit": "events/s", "note": f"peak RSS {verify['peak_rss_mb']:.0f} MB"},
        {"name": f"CSV export of {n:,} events: peak memory vs 10% of them",
         "ours": full_export["peak_rss_mb"], "baseline": small_export["peak_rss_mb"],
         "ratio": ratio, "unit": "MB peak RSS",
         "note": f"{full_export['seconds']:.0f} s, {full_export['bytes'] / 2**20:,.0f} MiB"},
        {"name": "change-log page deep in 1M events vs the newest page", "ours": deep * 1000,
         "baseline": newest * 1000, "ratio": deep / newest, "unit": "ms", "note": "keyset"},
    ]:  # fmt: skip
        print("BENCH " + json.dumps(line))
    print(f"export rows: {full_export['lines'] - 2:,} events (+ header and head row; the "
          "events include the exports' own audit.export events), "
          f"streamed: {full_export['streaming']}; chain ok: {verify['ok']}")  # fmt: skip


if __name__ == "__main__":
    main()
