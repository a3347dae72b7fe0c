"""Benchmark: the release page, its htmx answers and the lists, side by side in one run.

    .venv/bin/python tests/bench/bench_release_page.py [--requests 120] [--no-load]

In process, with the Django test client through the full middleware stack, each with
DEBUG off and on:
- the release page (13 items, 200 files, 8 jobs) against the login page;
- the htmx tick answer against the login page, and against a trivial audited write (a
  signed-in POST that updates one row and appends one change-log event in a transaction:
  the least any audited change costs);
- the log-poll fragment of a running job against a trivial view (throughput ratio);
- the dashboard and the release list of a person seeing 1,000 releases against one
  seeing 10.
Then, unless --no-load: the release page's p50 under 20 concurrent users against
gunicorn with 2 workers (a dependency of the portal), DEBUG off.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.bench.common import ROOT, django_setup, report, side_by_side, test_database, timed

django_setup("release_page")

from django.http import HttpResponse  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.urls import include, path  # noqa: E402


def trivial(request):  # type: ignore[no-untyped-def]
    return HttpResponse("ok")


def trivial_write(request, pk):  # type: ignore[no-untyped-def]
    """One row updated and one change-log event appended, in one transaction."""
    from django.db import transaction
    from django.utils import timezone

    from checklists.models import ChecklistItem
    from release_portal.audit.services import audit_record

    with transaction.atomic():
        ChecklistItem.objects.filter(pk=pk).update(updated_at=timezone.now())
        audit_record(actor=request.user, action="bench.write", data={"item": pk})
    return HttpResponse("ok")


urlpatterns = [
    path("bench/trivial", trivial),
    path("bench/write/<int:pk>", trivial_write),
    path("", include("release_portal.urls")),
]


def build():  # type: ignore[no-untyped-def]
    from checklists.models import ChecklistItem, MigrationFile, Release
    from checklists.services.releases import release_create
    from migrations_ops.models import Job, Target
    from release_portal.accounts.roles import Role
    from tests.factories import MembershipFactory, ProjectFactory, UserFactory, published_runbook

    project = ProjectFactory(slug="bench")
    lead = UserFactory(username="lead")
    releng = UserFactory(username="releng")
    MembershipFactory(user=lead, project=project, role=Role.PLATFORM_LEAD)
    MembershipFactory(user=releng, project=project, role=Role.RELEASE_ENGINEER)
    version = published_runbook(project)
    release = release_create(project=project, title="Bench", owner=lead,
                             commit_sha="a" * 40, created_by=lead)  # fmt: skip
    MigrationFile.objects.bulk_create(
        MigrationFile(release=release, filename=f"2025{i:010d}_m.sql", version=f"2025{i:010d}",
                      name="m", sha256=f"{i:064x}", size=10, sql="select 1;")
        for i in range(200)
    )  # fmt: skip
    staging = Target.objects.create(project=project, name="staging", kind="staging",
                                    url_env_var="BENCH_STAGING")  # fmt: skip
    Job.objects.bulk_create(
        Job(project=project, release=release, target=staging, kind="order",
            state="succeeded", ok=True, summary="ok")
        for _ in range(7)
    )  # fmt: skip
    running = Job.objects.create(project=project, release=release, target=staging,
                                 kind="dry_run", state="running")  # fmt: skip
    assert release.items.count() == 13 and release.jobs.count() == 8
    item = release.items.filter(
        step__owner="release_engineer", step__requires_evidence=False, step__is_signoff=False
    ).first()

    # Two more projects: a person seeing 10 releases, another seeing 1,000.
    steps = list(version.steps.all())
    people = {}
    for n in (10, 1000):
        other = ProjectFactory(slug=f"p{n}")
        person = UserFactory(username=f"sees{n}")
        MembershipFactory(user=person, project=other, role=Role.QA_LEAD)
        other_version = published_runbook(other)
        other_steps = list(other_version.steps.all()) or steps
        releases = Release.objects.bulk_create(
            Release(project=other, title=f"r{i}", owner=person, commit_sha=f"{i:040x}",
                    runbook_version=other_version, created_by=person)
            for i in range(n)
        )  # fmt: skip
        ChecklistItem.objects.bulk_create(
            ChecklistItem(release=r, step=s) for r in releases for s in other_steps
        )
        people[n] = person
    return release, item, running, lead, releng, people


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=120)
    parser.add_argument("--no-load", action="store_true")
    args = parser.parse_args()
    rounds, repeat = 4, max(1, args.requests // 4)
    with test_database(), override_settings(ROOT_URLCONF=__name__):
        from checklists.services import items as item_services

        release, item, running, lead, releng, people = build()
        anonymous = Client()
        signed_in = Client()
        signed_in.force_login(lead)
        engineer = Client()
        engineer.force_login(releng)
        htmx = {"HX-Request": "true"}

        def get(client, url, status=200, headers=None):  # type: ignore[no-untyped-def]
            def call() -> None:
                response = client.get(url, headers=headers or {})
                assert response.status_code == status, (url, response.status_code)

            return call

        login = get(anonymous, "/accounts/login/")
        trivial_view = get(signed_in, "/bench/trivial")
        page = get(signed_in, f"/releases/{release.pk}/")
        log_poll = get(signed_in, f"/jobs/{running.pk}/log?after=0", headers=htmx)
        tick_url = f"/releases/{release.pk}/items/{item.pk}/tick"

        def audited_write() -> None:
            response = engineer.post(f"/bench/write/{item.pk}", headers=htmx)
            assert response.status_code == 200, response.status_code

        def tick() -> None:
            # Each tick is undone (not timed) so the next one ticks again.
            item.refresh_from_db()
            start = time.perf_counter()
            response = engineer.post(tick_url, {"revision": item.revision}, headers=htmx)
            tick.times.append(time.perf_counter() - start)  # type: ignore[attr-defined]
            assert response.status_code == 200, response.status_code
            item.refresh_from_db()
            item_services.item_untick(item=item, user=releng, reason="bench",
                                      expected_revision=item.revision)  # fmt: skip

        def ticks_beside(baseline) -> tuple[float, float]:  # type: ignore[no-untyped-def]
            """Median tick and median ``baseline``, interleaved round by round (a tick is
            timed inside ``tick``: its untick is not)."""
            tick.times = []  # type: ignore[attr-defined]
            base_times: list[float] = []
            for _r in range(rounds):
                for _ in range(repeat):
                    tick()
                base_times += timed(baseline, repeat=repeat)
            return statistics.median(tick.times), statistics.median(base_times)  # type: ignore[attr-defined]

        for debug in (False, True):
            label = "DEBUG on" if debug else "DEBUG off"
            with override_settings(DEBUG=debug):
                ours, base = side_by_side(page, login, rounds=rounds, repeat=repeat)
                line("release page (13 items, 200 files, 8 jobs)", label, ours, base, "login")
                report(f"release page vs login page, {label}", ours * 1000, base * 1000,
                       "ms/request", "at most 8x")  # fmt: skip

                ours, base = ticks_beside(login)
                line("htmx tick answer", label, ours, base, "login")
                report(f"htmx tick answer vs login page, {label}", ours * 1000, base * 1000,
                       "ms/request", "at most 4x")  # fmt: skip
                ours, base = ticks_beside(audited_write)
                line("htmx tick answer", label, ours, base, "write")
                report(f"htmx tick answer vs a trivial audited write, {label}", ours * 1000,
                       base * 1000, "ms/request", "for reading the row above")  # fmt: skip

                ours, base = side_by_side(log_poll, trivial_view, rounds=rounds, repeat=repeat)
                line("log-poll fragment", label, ours, base, "trivial")
                report(f"log-poll throughput vs trivial view, {label}", 1 / ours, 1 / base,
                       "requests/s", "at least 0.5x")  # fmt: skip

                for url, name in (("/", "dashboard"), ("/releases/", "release list")):
                    many = Client()
                    many.force_login(people[1000])
                    few = Client()
                    few.force_login(people[10])
                    ours, base = side_by_side(get(many, url), get(few, url), rounds=rounds,
                                              repeat=repeat)  # fmt: skip
                    line(f"{name}, 1,000 releases", label, ours, base, "10 releases")
                    report(f"{name} with 1,000 releases vs 10, {label}", ours * 1000,
                           base * 1000, "ms/request", "about 1x")  # fmt: skip

        if not args.no_load:
            load(release.pk, lead)


def line(name: str, label: str, ours: float, base: float, against: str) -> None:
    sys.stdout.write(f"{name:44} {label:9} {ours * 1000:8.2f} ms  {against} "
                     f"{base * 1000:6.2f} ms  ratio {ours / base:5.2f}x\n")  # fmt: skip
    sys.stdout.flush()


def load(release_pk: int, user) -> None:  # type: ignore[no-untyped-def]
    """The release page under 20 concurrent users, gunicorn with 2 sync workers."""
    import requests
    from django.conf import settings
    from django.db import connection

    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    db = connection.settings_dict
    database_url = f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = dict(os.environ, DEBUG="0", ALLOWED_HOSTS="127.0.0.1", DATABASE_URL=database_url)
    port = 18765
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "release_portal.wsgi", "--workers", "2",
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/releases/{release_pk}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(url, cookies={settings.SESSION_COOKIE_NAME: cookie},
                                timeout=60).status_code == 200:  # fmt: skip
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not answer")
            time.sleep(0.3)
        times: list[float] = []
        lock = threading.Lock()

        def user_loop() -> None:
            session = requests.Session()
            session.cookies.set(settings.SESSION_COOKIE_NAME, cookie)
            for _ in range(10):
                start = time.perf_counter()
                response = session.get(url, timeout=60)
                elapsed = time.perf_counter() - start
                assert response.status_code == 200, response.status_code
                with lock:
                    times.append(elapsed)

        threads = [threading.Thread(target=user_loop) for _ in range(20)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
        p50 = statistics.median(times)
        p95 = sorted(times)[int(len(times) * 0.95) - 1]
        sys.stdout.write(f"release page, 20 users, gunicorn 2 workers: p50 {p50 * 1000:.0f} ms, "
                         f"p95 {p95 * 1000:.0f} ms, {len(times) / wall:.1f} pages/s\n")  # fmt: skip
        note = f"p95 {p95 * 1000:.0f} ms; {len(times) / wall:.1f} pages/s; was 456 ms"
        report("release page p50, 20 concurrent users, gunicorn 2 workers", p50 * 1000, None,
               "ms", note)  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
