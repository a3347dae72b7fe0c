"""Benchmark the job engine (not a test): `.venv/bin/python tests/bench/bench_jobs.py`.

1. "Run" to running: job_enqueue (committed, message sent) until a real Celery worker on
   a throwaway redis-server has claimed the job (started_at), over N jobs one at a time:
   p50 / p99 / max.
2. The log poll endpoint's throughput (a running job, 10 new lines per poll) as a ratio
   to a trivial Django view behind the same middleware, measured side by side in rounds
   with the test Client.

Uses a fresh database on the test PostgreSQL (created, migrated, dropped afterwards) and
never the shared Redis.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


BENCH_DB = f"bench_jobs_{os.getpid()}"
os.environ["JOBS_WORKER_DATABASE_NAME"] = BENCH_DB
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.migrations_ops.jobs.worker_settings"

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connections  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.urls import include, path  # noqa: E402
from django.utils import timezone  # noqa: E402
from psycopg import sql  # noqa: E402

from migrations_ops.jobs import job_enqueue  # noqa: E402
from migrations_ops.models import Job  # noqa: E402
from migrations_ops.pg import pgtools  # noqa: E402
from tests.factories import MembershipFactory, ProjectFactory, UserFactory  # noqa: E402
from tests.migrations_ops.jobs.factories import JobFactory, add_log_lines  # noqa: E402
from tests.migrations_ops.jobs.processes import (  # noqa: E402
    RedisServer,
    Worker,
    celery_broker,
    wait_for,
)

JOBS = int(os.environ.get("BENCH_JOBS", "100"))
ROUNDS, PER_ROUND = 5, 200


def trivial(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


urlpatterns = [path("bench/trivial", trivial), path("", include("release_portal.urls"))]


def server_admin_url() -> str:
    return pgtools.portal_server_url("postgres")


def create_database() -> None:
    with psycopg.connect(server_admin_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(BENCH_DB)))
    call_command("migrate", verbosity=0)


def drop_database() -> None:
    connections.close_all()
    with psycopg.connect(server_admin_url(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(BENCH_DB))
        )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_start_latency(project) -> tuple[list[float], list[float]]:
    to_running, enqueue_call = [], []
    for _ in range(JOBS):
        before = timezone.now()
        t0 = time.perf_counter()
        job = job_enqueue(kind="order", project=project)
        enqueue_call.append(time.perf_counter() - t0)

        def started(job_id=job.pk):
            return Job.objects.filter(pk=job_id).values_list("started_at", flat=True).first()

        started_at = wait_for(started, timeout=30, what="the worker to claim the job")
        to_running.append((started_at - before).total_seconds())
        wait_for(
            lambda job_id=job.pk: (
                not Job.objects.filter(pk=job_id, state__in=Job.ACTIVE_STATES).exists()
            ),
            timeout=30,
            what="the job to finish",
        )
    return to_running, enqueue_call


def bench_log_poll(project) -> tuple[float, float]:
    user = UserFactory(username="bench-viewer")
    MembershipFactory(user=user, project=project, role="auditor")
    job = JobFactory(project=project, kind="dry_run", state=Job.State.RUNNING)
    add_log_lines(job, 1000)
    client = Client()
    client.force_login(user)
    log_url = f"/jobs/{job.pk}/log?after=990"
    assert client.get(log_url).status_code == 200
    assert client.get("/bench/trivial").status_code == 200
    trivial_time = log_time = 0.0
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        for _ in range(PER_ROUND):
            client.get("/bench/trivial")
        trivial_time += time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(PER_ROUND):
            client.get(log_url)
        log_time += time.perf_counter() - t0
    n = ROUNDS * PER_ROUND
    return n / trivial_time, n / log_time


def main() -> None:
    setup_test_environment()
    create_database()
    redis = RedisServer().start()
    log_dir = Path(tempfile.mkdtemp(prefix="bench_jobs_"))
    worker = Worker(
        broker_url=redis.url,
        database_name=BENCH_DB,
        log_path=log_dir / "worker.log",
        concurrency=2,
    )
    try:
        project = ProjectFactory(name="Bench", slug="bench")
        with celery_broker(redis.url):
            worker.start()
            to_running, enqueue_call = bench_start_latency(project)
        with override_settings(ROOT_URLCONF=__name__):
            trivial_rps, log_rps = bench_log_poll(project)
    finally:
        worker.stop()
        redis.stop()
        drop_database()

    ms = 1000.0
    print(f"Job engine benchmark ({JOBS} jobs, one at a time; worker -c 2 on redis-server)")
    print(f"{'measure':<44}{'p50':>10}{'p99':>10}{'max':>10}")
    for label, values in (
        ("job_enqueue call (commit + send), ms", enqueue_call),
        ("Run -> running (started_at), ms", to_running),
    ):
        print(
            f"{label:<44}{statistics.median(values) * ms:>10.1f}"
            f"{pct(values, 0.99) * ms:>10.1f}{max(values) * ms:>10.1f}"
        )
    print()
    print(f"{'view (test Client, same middleware)':<44}{'req/s':>10}{'ratio':>10}")
    print(f"{'trivial view':<44}{trivial_rps:>10.0f}{1.0:>10.2f}")
    label = "GET /jobs/<id>/log?after=990 (10 lines)"
    print(f"{label:<44}{log_rps:>10.0f}{log_rps / trivial_rps:>10.2f}")
    for line in [
        {"name": f"Run -> running, p50 over {JOBS} jobs",
         "ours": statistics.median(to_running) * ms,
         "baseline": None, "ratio": None, "unit": "ms",
         "note": f"p99 {pct(to_running, 0.99) * ms:.1f} ms; worker on redis-server"},
        {"name": "log poll endpoint vs trivial view (throughput)", "ours": log_rps,
         "baseline": trivial_rps, "ratio": log_rps / trivial_rps, "unit": "req/s",
         "note": "10 new lines per poll"},
    ]:  # fmt: skip
        print("BENCH " + json.dumps(line))


if __name__ == "__main__":
    main()
