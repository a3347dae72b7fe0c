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
    # Folding is offered where a phase has lines under its head (see the test below);
    # a dry run's phases are one line each.
    foldable = page.locator("#job-log details.log-phase:not(.log-phase-empty)").count()
    assert page.get_by_role("button", name="Collapse all").is_visible() == bool(foldable)
    # Searching opens what matches and hides the rest.
    page.get_by_label("Search the log").fill("Applying migration 20250201090000")
    page.get_by_text("matching line(s)").wait_for()
    visible = page.locator("#job-log .line:visible")
    assert visible.count() >= 1
    assert all("20250201090000" in t for t in visible.all_inner_texts())
    page.get_by_label("Search the log").fill("")

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


# Tables that must fit their box (no hidden columns behind a sideways scroll).
CLIPPED = """(selector) => Array.from(document.querySelectorAll(selector)).map(t => {
  const box = t.closest('.table-wrap') || t.parentElement;
  return [t.id || t.className, Math.round(t.getBoundingClientRect().width),
          Math.round(box.getBoundingClientRect().width)];
}).filter(([, table, box]) => table > box + 1)"""

# What a risk run of the demo's phone migration stores for each statement (trimmed).
STATEMENT = {
    "file": "20250201090000_add_member_phone.sql", "does": "adds column phone (text) to "
    "app.members", "lock": "SHARE UPDATE EXCLUSIVE", "lock_table": "app.members",
    "risk": "medium", "blocks": ["reads (SELECT)", "SELECT ... FOR UPDATE/SHARE",
    "writes (INSERT, UPDATE, DELETE)", "VACUUM, ANALYZE and CREATE INDEX CONCURRENTLY"],
    "table_sizes": [{"rows": None, "table": "app.members"}], "lock_held_seconds": 0.002,
    "hazards": [{"name": "strong lock held while later statements run", "message": "the file "
                 "keeps a strong lock taken here while its later statements run", "safer":
                 "move the slow statements before the one that takes the lock"}],
}  # fmt: skip


@pytest.mark.parametrize("width", [1280, 1920])
def test_result_tables_fit_their_box_on_a_laptop_and_a_wide_screen(
    page, live_server, project, personas, width
):
    from django.db import transaction
    from django.utils import timezone

    from checklists.services.migrations import release_upload_archive
    from checklists.services.releases import release_create
    from migrations_ops.jobs.dispatch import record_job_end
    from migrations_ops.models import Job, Target
    from tests.factories import DEMO_MIGRATIONS, published_runbook, supabase_archive

    published_runbook(project)
    release = release_create(project=project, title="Phones", owner=personas["platform_lead"],
                             commit_sha="a" * 40,
                             created_by=personas["release_engineer"])  # fmt: skip
    release_upload_archive(release=release, data=supabase_archive(DEMO_MIGRATIONS),
                           filename="s.zip", actor=personas["release_engineer"])  # fmt: skip
    statements = [{**STATEMENT, "line": n} for n in (2, 4, 7)]
    production = Target.objects.create(project=project, name="production", kind="production",
                                       url_env_var="E2E_NOT_SET")  # fmt: skip
    risk = Job.objects.create(project=project, release=release, kind="risk", state="succeeded",
                              ok=True, summary="release risk medium", finished_at=timezone.now(),
                              result={"level": "medium", "statements": statements})  # fmt: skip
    # A failed restore check's summary: one long word (a backup's file name) in a sentence.
    Job.objects.create(project=project, release=release, kind="restore_check", state="failed",
                       started_at=timezone.now(), target=production,
                       summary="restoring 20261206T140514Z_pre_migration.sql (script piped into "
                       "psql; line numbers are the script's) failed (exit 3): psql:<stdin>:29: "
                       'ERROR:  role "release_portal_demo" does not exist')  # fmt: skip
    with transaction.atomic():
        record_job_end(risk, actor=None)

    page.set_viewport_size({"width": width, "height": 800})
    # The platform lead: a restore check's summary is shown to SREs and leads only.
    login(page, live_server, "lead", PASSWORD)
    page.goto(f"{live_server.url}/jobs/{risk.pk}/")
    page.locator("#risk-table").wait_for()
    assert page.evaluate(CLIPPED, "main table") == []
    # A file name wraps at its underscores, never inside a word.
    cell = page.locator("#risk-table tbody tr").first.locator("td").nth(1)
    assert cell.inner_text().replace("\n", "") == "20250201090000_add_member_phone.sql:2"
    page.goto(f"{live_server.url}/releases/{release.pk}/")
    page.locator("#analysis-card").scroll_into_view_if_needed()
    page.locator("#risk-table").wait_for()
    assert page.evaluate(CLIPPED, "#release-live table") == []
    assert page.csp.violations == []


def test_the_log_offers_folding_only_where_a_phase_has_lines_to_fold(
    page, live_server, project, personas
):
    from django.utils import timezone

    from migrations_ops.models import Job, JobLogLine

    def job_with(lines):
        job = Job.objects.create(project=project, kind="backup", state="succeeded", ok=True,
                                 summary="backed up")  # fmt: skip
        JobLogLine.objects.bulk_create(
            JobLogLine(job=job, seq=n, at=timezone.now(), stream=stream, text=text)
            for n, (stream, text) in enumerate(lines, start=1)
        )
        return job

    # A backup's log: three phases of one line each, nothing to fold.
    flat = job_with([("info", "started"), ("info", "backing up app"), ("info", "finished")])
    deep = job_with([("info", "restoring"), ("stdout", "SET"), ("stdout", "CREATE TABLE")])
    login(page, live_server, "auditor", PASSWORD)
    page.goto(f"{live_server.url}/jobs/{flat.pk}/")
    page.get_by_label("Search the log").wait_for()
    assert not page.get_by_role("button", name="Collapse all").is_visible()
    assert not page.get_by_role("button", name="Expand all").is_visible()
    page.goto(f"{live_server.url}/jobs/{deep.pk}/")
    page.get_by_role("button", name="Collapse all").click()
    assert not page.get_by_text("CREATE TABLE").is_visible()
    # Searching hides the lines of a phase that do not match.
    page.get_by_role("button", name="Expand all").click()
    page.get_by_label("Search the log").fill("create table")
    page.get_by_text("1 matching line(s)").wait_for()
    assert not page.locator("#job-log .line", has_text="SET").is_visible()
    assert page.csp.violations == []
