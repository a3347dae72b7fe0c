"""Benchmark the change log at scale: bulk load, chain verification, exports, pages.

A script, not a test::

    .venv/bin/python tests/bench/bench_audit.py [--events 1000000]

It creates a throwaway database on the system PostgreSQL (``BENCH_SERVER_URL``, default
``postgresql://postgres@127.0.0.1:5432/postgres``), migrates it, writes N events with a
valid chain (canonical form, digest, public hash and HMAC built in Python, loaded with
one COPY that the table's CHECK constraint still checks row by row: ``audit_record``
takes a row lock per event and would take an hour), then measures, each in a fresh
process:

- ``audit_verify``: events per second (wall clock, and of the process's own CPU: it runs
  on one core, PostgreSQL beside it) and peak memory;
- the CSV and JSON Lines exports through the real view (login, permission, audit event,
  signed checkpoint, streaming response): time and peak memory, for one project's 10%
  of the events (the other 90% as placeholders) and for 100%, side by side with the
  baseline process; constant memory shows as the same peak for all;
- scripts/verify_changelog.py checking the full JSON Lines export offline;
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
if "BENCH_SIGNING_KEY" not in os.environ:  # one Ed25519 key for this run and its children
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    os.environ["BENCH_SIGNING_KEY"] = (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


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
        "AUDIT_SIGNING_KEY": os.environ["BENCH_SIGNING_KEY"],
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
    """Write ``n`` chained events (form 2, both chains) with COPY; return the seconds it took.

    ``audit_record`` takes the head's row lock per event and would take an hour; this
    builds the same rows (canonical form, digest, public hash, HMAC) in Python and loads
    them in one COPY, which the table's CHECK constraint still checks row by row.
    """
    from django.db import connection

    from release_portal.audit.chain import FORM2_FIELDS, canonical_text, hashes_for
    from release_portal.audit.models import GENESIS_HASH
    from release_portal.audit.services import hmac_key

    key = hmac_key()
    columns = [*FORM2_FIELDS, "canonical", "digest", "public_hash", "hash"]
    start_at = datetime(2026, 1, 1, tzinfo=UTC)
    actions = ["item.tick", "item.untick", "job.enqueue", "signoff.give", "release.state"]
    prev, prev_public = GENESIS_HASH, GENESIS_HASH
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
                    "object_repr": f"{seq % 50 + 1}: =SUM(A1) <b>check</b> {seq % 997}",
                    "project_id": small_project if seq % SMALL_SHARE == 0 else big_project,
                    "release_id": seq % 50 + 1,
                    "release_repr": f"Release {seq % 50 + 1} (abcdef12)",
                    "data": {"step": f"step-{seq % 997}", "from": "open", "to": "done",
                             "comment": "é", "i": seq},
                    "prev_hash": prev,
                    "form": 2,
                }  # fmt: skip
                event["canonical"] = canonical_text(event)
                hashes = hashes_for(key, 2, event["canonical"].encode(), prev_public)
                prev, prev_public = hashes.hash, hashes.public_hash
                row = {**event, "data": json.dumps(event["data"]), "digest": hashes.digest,
                       "public_hash": hashes.public_hash, "hash": hashes.hash}  # fmt: skip
                copy.write_row([row[c] for c in columns])
        cursor.execute(
            "INSERT INTO audit_auditchainhead (id, seq, hash, public_hash) VALUES (1, %s, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash, "
            "public_hash = EXCLUDED.public_hash",
            [n, prev, prev_public],
        )
    return time.perf_counter() - started


# --- children: one measurement each, in a fresh process --------------------------------------


def child(name: str, task: str, project: int | None, fmt: str) -> dict:
    setup_django(name)
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    from release_portal.audit.verify import audit_verify

    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-auditor"))
    client.get(reverse("audit_log"))  # warm: imports, templates, connection
    started, cpu_started = time.perf_counter(), time.process_time()
    out: dict = {}
    if task == "verify":
        backend_started = backend_cpu_seconds()
        result = audit_verify()
        out = {"ok": result.ok, "checked": result.checked, "problem": result.problem}
        backend = backend_cpu_seconds()
        out["backend_cpu_seconds"] = None if backend is None else backend - backend_started
    elif task == "export":
        params = {"project": project} if project else {}
        response = client.get(reverse(f"audit_export_{fmt}"), params)
        size = rows = 0
        # The full export is kept on disk for the offline check (written as it streams).
        with Path(DATA_DIR, f"export-{project or 'all'}.{fmt}").open("wb") as keep:
            for chunk in response.streaming_content:
                size += len(chunk)
                rows += chunk.count(b"\n")
                keep.write(chunk)
        response.close()
        out = {"bytes": size, "lines": rows, "streaming": response.streaming}
    out.update(
        seconds=time.perf_counter() - started,
        cpu_seconds=time.process_time() - cpu_started,
        peak_rss_mb=peak_rss_mb(),
    )
    return out


def backend_cpu_seconds() -> float | None:
    """CPU seconds this process's PostgreSQL backend used so far (user + system), read from
    /proc when the server runs on this machine; None when it does not."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run_child(name: str, task: str, project: int | None = None, fmt: str = "csv") -> dict:
    command = [sys.executable, __file__, "--child", task, "--database", name, "--format", fmt]
    if project:
        command += ["--project", str(project)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def offline_check(export: Path, key_pem: str) -> dict:
    """scripts/verify_changelog.py on ``export``, as an auditor runs it (``python -I``)."""
    key = Path(DATA_DIR, "bench-key.pem")
    key.write_text(key_pem)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-I", str(ROOT / "scripts" / "verify_changelog.py"), str(export),
         "--public-key", str(key)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return {"seconds": time.perf_counter() - started, "ok": done.returncode == 0,
            "out": (done.stdout + done.stderr).strip().splitlines()[:1]}  # fmt: skip


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
    parser.add_argument("--format", default="csv")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.database, args.child, args.project, args.format)))
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
    verify_load = load_average()
    verify = run_child(name, "verify")
    exports = {
        (fmt, share): run_child(name, "export", small.pk if share == 10 else None, fmt)
        for fmt in ("csv", "jsonl")
        for share in (10, 100)
    }
    from release_portal.audit import signing

    offline = offline_check(
        Path(DATA_DIR, "export-all.jsonl"), signing.public_pem(signing.configured_key())
    )

    client = Client()
    client.force_login(auditor)
    url = reverse("audit_log")
    newest = time_page(client, url)
    deep = time_page(client, f"{url}?before={n // 2}")
    deep_small = time_page(client, f"{url}?project={small.pk}&before={n // 2}")

    base_mb = baseline["peak_rss_mb"]
    rate = verify["checked"] / verify["seconds"]
    cpu_rate = verify["checked"] / verify["cpu_seconds"]
    backend_cpu = verify.get("backend_cpu_seconds")
    both_cpu = verify["cpu_seconds"] + (backend_cpu or 0)
    rows = [
        ("bulk load (hash in Python + COPY)", f"{load_seconds:.1f} s",
         f"{n / load_seconds:,.0f} events/s", ""),
        ("audit_verify, whole chain", f"{verify['seconds']:.1f} s", f"{rate:,.0f} events/s",
         f"{verify['peak_rss_mb']:.0f} MB"),
        ("  ... per second of its own CPU", f"{verify['cpu_seconds']:.1f} s",
         f"{cpu_rate:,.0f} events/s", ""),
    ]  # fmt: skip
    if backend_cpu is not None:
        rows += [
            ("  ... its PostgreSQL backend's CPU", f"{backend_cpu:.1f} s", "", ""),
            ("  ... per second of both CPUs together", f"{both_cpu:.1f} s",
             f"{verify['checked'] / both_cpu:,.0f} events/s", ""),
        ]  # fmt: skip
    for (fmt, share), result in exports.items():
        label = f"{fmt.upper()} export, {'one project (10%)' if share == 10 else 'all (100%)'}"
        rows.append((label, f"{result['seconds']:.1f} s", f"{result['bytes'] / 2**20:,.0f} MiB",
                     f"{result['peak_rss_mb']:.0f} MB"))  # fmt: skip
    rows += [
        ("baseline process (Django + one page)", "", "", f"{base_mb:.0f} MB"),
        ("verify_changelog.py, full JSON Lines", f"{offline['seconds']:.1f} s",
         f"{n / offline['seconds']:,.0f} events/s", ""),
        ("change-log page, newest", f"{newest * 1000:.1f} ms", "", ""),
        (f"change-log page, before={n // 2:,}", f"{deep * 1000:.1f} ms",
         f"x{deep / newest:.2f} of newest", ""),
        (f"  ... one project (10%), before={n // 2:,}", f"{deep_small * 1000:.1f} ms",
         f"x{deep_small / newest:.2f} of newest", ""),
    ]  # fmt: skip
    print(f"\nChange log benchmark: {n:,} events, table {table_size}, PostgreSQL {SERVER_URL}")
    print(
        f"load average when audit_verify ran: {verify_load} (1, 5, 15 min), {os.cpu_count()} CPUs"
    )
    print(f"{'measure':<44} {'time':>10} {'rate / size':>20} {'peak RSS':>9}")
    print("-" * 86)
    for label, seconds, rate_text, memory in rows:
        print(f"{label:<44} {seconds:>10} {rate_text:>20} {memory:>9}")
    print("-" * 86)
    csv_full, csv_small = exports[("csv", 100)], exports[("csv", 10)]
    ratio = csv_full["peak_rss_mb"] / csv_small["peak_rss_mb"]
    worst = max(r["peak_rss_mb"] for r in exports.values()) - base_mb
    print(f"export peak memory, 100% vs 10% of the events: x{ratio:.2f} (constant memory: ~1); "
          f"the most any export used above the baseline process: {worst:+.0f} MB")  # fmt: skip
    verify_note = (
        f"wall clock, load {verify_load} on {os.cpu_count()} CPUs; {cpu_rate:,.0f}/s of its own CPU"
    )
    if backend_cpu is not None:
        together = verify["checked"] / both_cpu
        verify_note += f", {together:,.0f}/s of its CPU and its PostgreSQL backend's together"
    verify_note += f"; peak RSS {verify['peak_rss_mb']:.0f} MB"
    lines = [
        {"name": f"audit_verify of {n:,} events", "ours": rate, "baseline": None,
         "ratio": None, "unit": "events/s",
         "note": verify_note},
        {"name": f"CSV export of {n:,} events: peak memory vs 10% of them",
         "ours": csv_full["peak_rss_mb"], "baseline": csv_small["peak_rss_mb"],
         "ratio": ratio, "unit": "MB peak RSS",
         "note": f"{csv_full['seconds']:.0f} s, {csv_full['bytes'] / 2**20:,.0f} MiB"},
    ]  # fmt: skip
    for (fmt, share), result in exports.items():
        lines.append(
            {"name": f"{fmt.upper()} export of {share}% of {n:,} events: peak memory vs the "
                     "baseline process (Django loaded)",
             "ours": result["peak_rss_mb"], "baseline": base_mb,
             "ratio": result["peak_rss_mb"] / base_mb, "unit": "MB peak RSS",
             "note": f"{result['peak_rss_mb'] - base_mb:+.0f} MB, {result['seconds']:.0f} s"}
        )  # fmt: skip
    lines += [
        {"name": f"verify_changelog.py of a {n:,}-event export", "ours": n / offline["seconds"],
         "baseline": None, "ratio": None, "unit": "events/s",
         "note": "ok" if offline["ok"] else f"FAILED: {offline['out']}"},
        {"name": "change-log page deep in 1M events vs the newest page", "ours": deep * 1000,
         "baseline": newest * 1000, "ratio": deep / newest, "unit": "ms", "note": "keyset"},
    ]  # fmt: skip
    for line in lines:
        print("BENCH " + json.dumps(line))
    print(f"export rows: {csv_full['lines'] - 3:,} events (+ header, anchor and checkpoint rows; "
          "the events include the exports' own audit.export events), "
          f"streamed: {csv_full['streaming']}; chain ok: {verify['ok']} {verify['problem']}; "
          f"offline check: {offline['out']}")  # fmt: skip


if __name__ == "__main__":
    main()
