"""A job's page in a real browser: the log first, folding by phase and searchable, the
result as a view of its own, the raw JSON a link away; no CSP violation."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import login, screenshot
from tests.e2e.test_stories import demo_project, release_with_demo, run_now, staging
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
__all__ = ["demo_project", "staging"]  # fixtures this module uses


def test_a_dry_runs_page_reads_as_a_report_with_a_searchable_log(
    page, live_server, demo_project, personas
):
    release = release_with_demo(
        demo_project, personas["platform_lead"], personas["release_engineer"]
    )
    job = run_now(release, "dry_run", personas["release_engineer"])
    assert job.ok, job.summary

    login(page, live_server, "releng", PASSWORD)
    page.goto(f"{live_server.url}/jobs/{job.pk}/")
    # The log comes before the result, grouped into phases that fold.
    log_box = page.locator("#job-log").bounding_box()
    result_box = page.locator("#job-outcome").bounding_box()
    assert log_box["y"] < result_box["y"]
    phases = page.locator("#job-log details.log-phase")
    assert phases.count() >= 2
    page.get_by_role("button", name="Collapse all").click()
    assert page.locator("#job-log details.log-phase[open]").count() == 0
    # Searching opens what matches and hides the rest.
    page.get_by_label("Search the log").fill("Applying migration 20250201090000")
    page.get_by_text("matching line(s)").wait_for()
    visible = page.locator("#job-log .line:visible")
    assert visible.count() >= 1
    assert all("20250201090000" in t for t in visible.all_inner_texts())
    page.get_by_label("Search the log").fill("")
    page.get_by_role("button", name="Expand all").click()

    # The result: the file table and the schema change, no JSON, no server path.
    files = page.locator("table.job-files tbody tr")
    assert files.count() == 1
    assert "applied" in files.first.inner_text()
    assert page.locator("ul.schema-changes").get_by_text("added").count() >= 1
    html = page.content()
    assert "site-packages" not in html and '"catalog_changes"' not in html
    screenshot(page, "job-result-dry-run")

    # The raw result, a link away.
    with page.expect_navigation():
        page.get_by_role("link", name="raw result").click()
    body = json.loads(page.locator("body").inner_text())
    assert body["kind"] == "dry_run" and "apply" in body["result"]
    assert "site-packages" not in json.dumps(body)
    assert page.csp.violations == []
