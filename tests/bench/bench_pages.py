"""Benchmark: pages against a trivial Django view, side by side in one run.

    .venv/bin/python tests/bench/bench_pages.py [--requests 200]

Both go through the full middleware stack (sessions, auth, CSRF, CSP, htmx) with the
Django test client, signed in as the QA lead. Measured: the release page with the
runbook's 13 items and 200 migration files; the dashboard; the release list.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.bench.common import django_setup, report, side_by_side, test_database

django_setup("pages")

from django.http import HttpResponse  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.urls import include, path  # noqa: E402


def trivial(request):  # type: ignore[no-untyped-def]
    return HttpResponse("ok")


urlpatterns = [path("bench/trivial", trivial), path("", include("release_portal.urls"))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with test_database(), override_settings(ROOT_URLCONF=__name__):
        from checklists.models import MigrationFile
        from checklists.services.releases import release_create
        from release_portal.accounts.roles import Role
        from tests.factories import (
            MembershipFactory,
            ProjectFactory,
            UserFactory,
            published_runbook,
        )

        project = ProjectFactory(slug="bench")
        lead = UserFactory(username="lead")
        qa = UserFactory(username="qa")
        MembershipFactory(user=lead, project=project, role=Role.PLATFORM_LEAD)
        MembershipFactory(user=qa, project=project, role=Role.QA_LEAD)
        published_runbook(project)
        release = release_create(project=project, title="Bench", owner=lead,
                                 commit_sha="a" * 40, created_by=lead)  # fmt: skip
        MigrationFile.objects.bulk_create(
            MigrationFile(release=release, filename=f"2025{i:010d}_m.sql", version=f"2025{i:010d}",
                          name="m", sha256="0" * 64, size=10, sql="select 1;")
            for i in range(200)
        )  # fmt: skip
        client = Client()
        client.force_login(qa)
        rounds, repeat = 4, max(1, args.requests // 4)

        def get(url: str):  # type: ignore[no-untyped-def]
            def call() -> None:
                response = client.get(url)
                assert response.status_code == 200, (url, response.status_code)

            return call

        baseline = get("/bench/trivial")
        for name, url in [
            ("release page (13 items, 200 files)", f"/releases/{release.pk}/"),
            ("dashboard", "/"),
            ("release list", "/releases/"),
        ]:
            ours, base = side_by_side(get(url), baseline, rounds=rounds, repeat=repeat)
            sys.stdout.write(f"{name:40} {ours * 1000:8.2f} ms  trivial {base * 1000:6.2f} ms  "
                             f"ratio {ours / base:5.1f}x\n")  # fmt: skip
            report(name + " vs trivial view", ours * 1000, base * 1000, "ms/request")


if __name__ == "__main__":
    main()
