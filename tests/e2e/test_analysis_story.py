"""The demo release's "What this release does" card, in Chromium: the jobs demo_load queues
run, and the card shows the demo's real hazard (its unique index built without
CONCURRENTLY), loaded lazily when it scrolls into view."""

from __future__ import annotations

import pytest

from checklists.services.migrations import release_upload_archive
from checklists.services.releases import release_create
from migrations_ops import demo
from migrations_ops.jobs.engine import job_execute
from migrations_ops.models import Job
from tests.e2e import world
from tests.e2e.conftest import login, screenshot
from tests.factories import PASSWORD, published_runbook

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def staging(monkeypatch):
    with world.staging_database() as url:
        monkeypatch.setenv(world.STAGING_ENV, url)
        yield url


def test_the_demo_release_shows_its_unique_index_hazard(
    page, live_server, project, staging, personas, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    world.configure_project(project)
    published_runbook(project)
    release = release_create(
        project=project, title="Add member phone numbers", owner=personas["platform_lead"],
        commit_sha=demo.DEMO_RELEASE_COMMIT, created_by=personas["release_engineer"],
    )  # fmt: skip
    release_upload_archive(
        release=release, data=world.demo_zip(), filename="supabase.zip",
        actor=personas["release_engineer"],
    )  # fmt: skip
    release.refresh_from_db()

    # What demo_load queues, once per content: risk and access against staging.
    queued = demo.demo_analysis_queue(release)
    assert sorted(job.kind for job in queued) == [Job.Kind.ACCESS, Job.Kind.RISK]
    assert demo.demo_analysis_queue(release) == []
    for job in queued:
        job_execute(job_id=job.pk, worker="e2e")
        job.refresh_from_db()
        assert job.state == Job.State.SUCCEEDED, (job.kind, job.summary, job.error)

    login(page, live_server, "qa", PASSWORD)
    page.goto(f"{live_server.url}/releases/{release.pk}/")
    card = page.locator("#analysis-card")
    card.scroll_into_view_if_needed()
    table = page.locator("#risk-table")
    table.wait_for()
    index = table.locator("tbody tr", has_text="CREATE INDEX without CONCURRENTLY")
    assert index.count() == 1
    row = index.inner_text()
    assert "20250201090000_add_member_phone.sql:4" in row
    assert "SHARE" in row and "CONCURRENTLY" in row
    # Hazards first: no statement without a hazard comes before it.
    rows = table.locator("tbody tr").all_inner_texts()
    position = next(i for i, text in enumerate(rows) if "CREATE INDEX without" in text)
    assert all("hazard" in text for text in rows[: position + 1])
    # Sorting asks the server again, in place.
    page.locator("#analysis-sorts a[data-sort='file']").click()
    page.locator("#analysis-sorts strong", has_text="File and line").wait_for()
    assert page.locator("#risk-table tbody tr").count() >= 2
    screenshot(page, "story-release-analysis")
    assert page.csp.violations == []
