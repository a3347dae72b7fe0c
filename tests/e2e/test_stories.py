"""User stories in a real browser: live server, real Celery worker, real PostgreSQL.

Each story saves screenshots in tests/e2e/screenshots/ (the best go into the README).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
import requests
from django.db import connection

from checklists.models import ChecklistItem, Release, SignOff
from checklists.services.items import item_mark_not_applicable
from checklists.services.migrations import release_upload_archive
from checklists.services.releases import release_create
from migrations_ops.jobs.engine import job_execute
from migrations_ops.jobs.kinds import PREFLIGHT_KINDS
from migrations_ops.jobs.services import job_enqueue
from release_portal.api.tokens import token_create
from tests.audit.offline import outsider_copy, run
from tests.e2e import world
from tests.e2e.conftest import login, screenshot
from tests.factories import PASSWORD, published_runbook, settle_checklist, sign_off
from tests.migrations_ops.jobs.processes import RedisServer, Worker, celery_broker, wait_for
from tests.services import need, redis_available

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RLS_ITEMS = ["ensure-rls-fixtures-supabase-tests", "rls-docker-test-suite-passed"]


@pytest.fixture
def staging(monkeypatch):
    with world.staging_database() as url:
        monkeypatch.setenv(world.STAGING_ENV, url)
        yield url


@pytest.fixture
def demo_project(project, staging, personas):
    world.configure_project(project)
    published_runbook(project)
    return project


@pytest.fixture
def worker(tmp_path, staging):
    """A real `celery worker` on a throwaway Redis, reading the test database."""
    need("redis-server", redis_available(), "the stories start their own redis-server")
    server = RedisServer().start()
    log = tmp_path / "worker.log"
    worker = Worker(
        broker_url=server.url,
        database_name=connection.settings_dict["NAME"],
        log_path=log,
        concurrency=2,
        env={"DJANGO_SETTINGS_MODULE": "tests.e2e.worker_settings", world.STAGING_ENV: staging},
    )
    try:
        with celery_broker(server.url):
            worker.start()
            yield worker
    finally:
        worker.stop()
        server.stop()


def release_with_demo(project, owner, by) -> Release:
    release = release_create(
        project=project,
        title="Add member phone numbers",
        owner=owner,
        commit_sha="4f2c9e1b7a3d5f60c8e2a9b14d7e3f5a6c1b2d90",
        created_by=by,
    )
    release_upload_archive(release=release, data=world.demo_zip(), filename="s.zip", actor=by)
    release.refresh_from_db()
    return release


def run_now(release, kind, user):
    job = job_enqueue(
        kind=kind,
        project=release.project,
        release=release,
        target=release.project.targets.get(),
        created_by=user,
    )
    return job_execute(job_id=job.pk, worker="e2e")


def test_the_release_engineer_creates_a_release_and_watches_preflight(
    page, live_server, demo_project, worker, tmp_path
):
    login(page, live_server, "releng", PASSWORD)
    page.get_by_role("link", name="Releases", exact=True).click()
    page.get_by_role("link", name="New release", exact=True).click()
    page.get_by_label("Title").fill("Add member phone numbers")
    page.get_by_label("Owner").select_option(label="lead")
    page.get_by_label("Commit SHA").fill("4f2c9e1b7a3d5f60c8e2a9b14d7e3f5a6c1b2d90")
    page.get_by_role("button", name="Create release").click()
    page.get_by_text("Release created").wait_for()
    page.set_input_files(
        "input[name=archive]", world.write_zip(tmp_path, "supabase.zip", world.demo_zip())
    )
    page.get_by_role("button", name="Store migrations").click()
    page.get_by_text("Migrations stored (3 added").wait_for()
    page.get_by_role("button", name="Run pre-flight").click()
    page.get_by_text("Queued Migration order").wait_for()
    # Open the dry run and watch its output arrive, then the badge turn green.
    page.locator("#jobs-table").get_by_role("link", name=re.compile(r"^Dry run #")).click()
    page.locator("#job-log").get_by_text("Applying migration 20250201090000").wait_for(
        timeout=60_000
    )
    page.locator("#job-status", has_text="Succeeded").wait_for(timeout=60_000)
    screenshot(page, "story-preflight-dry-run")
    page.get_by_role("link", name="Add member phone numbers").click()
    release = Release.objects.get()
    wait_for(
        lambda: not release.jobs.filter(state__in=["queued", "running"]).exists(),
        timeout=180,
        what="every pre-flight job to end",
    )
    page.reload()
    assert page.locator("#jobs-panel .badge-failed").count() == 0, page.locator(
        "#jobs-panel"
    ).inner_text()
    assert release.jobs.filter(state="succeeded").count() == len(PREFLIGHT_KINDS)
    # Every pre-flight kind carries the checklist's check mark, and so does the step.
    assert page.locator("#jobs-panel .kind-mark .check").count() == len(PREFLIGHT_KINDS)
    assert page.locator("#step-preflight.is-done").count() == 1
    # Each result is evidence on its item; nobody ticked anything.
    order = page.locator("li.item", has_text="order is chronological")
    order.get_by_text("Passed").wait_for()
    assert ChecklistItem.objects.filter(release=release, state="done").count() == 0
    # What the release does: the card loads as it scrolls into view, the demo's hazard in it.
    page.locator("#analysis-card").scroll_into_view_if_needed()
    page.locator("#risk-table tr", has_text="CREATE INDEX without CONCURRENTLY").wait_for()
    screenshot(page, "story-preflight-release")
    assert page.csp.violations == []


def test_the_qa_lead_ticks_the_rls_items_with_the_rls_job_as_evidence(
    page, live_server, demo_project, personas
):
    release = release_with_demo(
        demo_project, personas["platform_lead"], personas["release_engineer"]
    )
    for kind in ("fixtures", "rls"):
        assert run_now(release, kind, personas["qa_lead"]).state == "succeeded"
    login(page, live_server, "qa", PASSWORD)
    page.goto(f"{live_server.url}/releases/{release.pk}/")
    for text in ("RLS fixtures", "RLS Docker test suite"):
        item = page.locator("li.item", has_text=text)
        item.get_by_text("Passed").wait_for()
        item.get_by_role("button", name="Tick").click()
        # htmx swaps the item in place: no reload.
        page.locator("li.item-done", has_text=text).wait_for()
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    assert set(
        ChecklistItem.objects.filter(release=release, step__key__in=RLS_ITEMS).values_list(
            "state", flat=True
        )
    ) == {"done"}
    screenshot(page, "story-qa-ticks-rls")
    assert page.csp.violations == []


def test_the_owner_signs_off_and_the_ci_gate_opens(page, live_server, demo_project, personas):
    lead = personas["platform_lead"]
    release = release_with_demo(demo_project, lead, personas["release_engineer"])
    settle_checklist(release, lead, reason="story: settled elsewhere")
    token = token_create(project=demo_project, name="github-actions", scopes=["read"], user=lead)
    gate_url = f"{live_server.url}/api/releases/{release.pk}/gate"
    headers = {"Authorization": f"Bearer {token.value}"}
    assert requests.get(gate_url, headers=headers, timeout=10).status_code == 409
    login(page, live_server, "lead", PASSWORD)
    page.goto(f"{live_server.url}/releases/{release.pk}/")
    page.get_by_label(re.compile("Your password")).fill(PASSWORD)
    page.get_by_role("button", name="Sign off").click()
    page.get_by_text("Signed off. The digest you approved is recorded.").wait_for()
    page.locator("#release-state", has_text="Approved").wait_for()
    answer = requests.get(gate_url, headers=headers, timeout=10)
    assert answer.status_code == 200
    release.refresh_from_db()
    assert answer.json()["digest"] == release.digest
    screenshot(page, "story-owner-signs-off")
    assert page.csp.violations == []


PENDING = "review-supabase-dashboard-pending-failed"


def test_a_failed_check_is_waived_by_two_people_and_the_owner_sees_it(
    page, live_server, demo_project, personas
):
    from checklists.services.items import evidence_from_job
    from migrations_ops.models import Job

    lead, releng = personas["platform_lead"], personas["release_engineer"]
    release = release_with_demo(demo_project, lead, releng)
    # The pending-migrations check failed for these files; everything else is settled.
    failed = Job.objects.create(
        project=demo_project, release=release, kind="pending", state="failed", ok=False,
        summary="1 failed migration on staging", content_digest=release.content_digest,
    )  # fmt: skip
    evidence_from_job(job=failed)
    pending = release.items.get(step__key=PENDING)
    settle_checklist(release, lead, reason="story: settled elsewhere", skip=(PENDING,))
    token = token_create(project=demo_project, name="github-actions", scopes=["read"], user=lead)
    gate_url = f"{live_server.url}/api/releases/{release.pk}/gate"
    headers = {"Authorization": f"Bearer {token.value}"}
    closed = requests.get(gate_url, headers=headers, timeout=10)
    assert closed.status_code == 409
    assert f"job #{failed.pk}" in closed.json()["error"]
    # The release engineer cannot tick past the failure with a link; they ask for a waiver.
    login(page, live_server, "releng", PASSWORD)
    page.goto(f"{live_server.url}/releases/{release.pk}/")
    row = page.locator(f"#item-{pending.pk}")
    row.locator("summary", has_text="Ask for a waiver").click()
    reason = "The failed row is a known stuck repair from March; checked by SQL"
    row.get_by_label("Why may the release go without this check?").fill(reason)
    row.get_by_role("button", name="Ask for a waiver").click()
    page.locator(".msg-success", has_text="Waiver asked for").wait_for()
    assert requests.get(gate_url, headers=headers, timeout=10).status_code == 409
    # A second person, the platform lead (and the owner), approves it and signs.
    page.context.clear_cookies()
    login(page, live_server, "lead", PASSWORD)
    page.goto(f"{live_server.url}/releases/{release.pk}/")
    page.locator(f"#item-{pending.pk}").get_by_role("button", name="Approve waiver").click()
    page.locator(".msg-success", has_text="Waiver approved").wait_for()
    panel = page.locator("#signoff-waivers")
    panel.get_by_text(reason).wait_for()
    assert "approved by lead" in panel.inner_text() and "asked by releng" in panel.inner_text()
    page.get_by_label(re.compile("Your password")).fill(PASSWORD)
    page.get_by_role("button", name="Sign off").click()
    page.get_by_text("Signed off. The digest you approved is recorded.").wait_for()
    answer = requests.get(gate_url, headers=headers, timeout=10)
    assert answer.status_code == 200
    [waiver] = [w for w in answer.json()["waivers"] if w["step"] == PENDING]
    assert waiver["reason"] == reason
    assert (waiver["asked_by"], waiver["approved_by"]) == ("releng", "lead")
    screenshot(page, "story-waiver-approved")
    assert page.csp.violations == []


def test_a_changed_migration_makes_the_signoff_stale(
    page, live_server, demo_project, personas, tmp_path
):
    lead = personas["platform_lead"]
    release = release_with_demo(demo_project, lead, personas["release_engineer"])
    settle_checklist(release, lead, reason="story: settled")

    sign_off(release, lead)
    login(page, live_server, "releng", PASSWORD)
    page.goto(f"{live_server.url}/releases/{release.pk}/")
    changed = world.demo_zip(
        extra={
            "supabase/migrations/20250201090000_add_member_phone.sql": (
                "alter table app.members add column phone text not null default '';\n"
            ),
        }
    )
    page.get_by_text("Upload again or move to a new commit").click()
    page.set_input_files("input[name=archive]", world.write_zip(tmp_path, "v2.zip", changed))
    page.get_by_role("button", name="Store migrations").click()
    banner = page.locator(".banner-warn")
    banner.get_by_text("sign-off by lead is stale").wait_for()
    assert "changed 20250201090000_add_member_phone.sql" in banner.inner_text()
    assert "('files'" not in banner.inner_text()
    assert page.locator("#release-state").inner_text() != "Approved"
    assert SignOff.objects.get().stale_at is not None
    screenshot(page, "story-signoff-stale")
    assert page.csp.violations == []


def test_the_auditor_reads_verifies_and_checks_the_change_log_offline(
    page, live_server, demo_project, personas, worker, tmp_path
):
    lead = personas["platform_lead"]
    release = release_with_demo(demo_project, lead, personas["release_engineer"])
    item_mark_not_applicable(
        item=release.items.filter(step__is_signoff=False, step__requires_evidence=False).first(),
        user=lead,
        reason="<script>alert('x')</script> not needed",
    )
    login(page, live_server, "auditor", PASSWORD)
    page.goto(f"{live_server.url}/releases/{release.pk}/")
    assert page.get_by_role("button", name="Tick").count() == 0
    assert page.get_by_role("button", name="Sign off").count() == 0
    page.get_by_role("link", name="Audit log").click()
    # The release by its name, not its number; one line per event, in words.
    page.get_by_label("Release").select_option(label=f"R-{release.pk} Add member phone numbers")
    page.get_by_label("Hide worker and system events").check()
    page.get_by_role("button", name="Filter").click()
    line = page.locator(".audit-line", has_text="marked not applicable").first
    line.wait_for()
    assert "lead marked not applicable “" in line.inner_text()
    assert f"on release R-{release.pk}" in line.inner_text()
    assert page.evaluate("window.__xss === undefined")
    # The data, on demand.
    line.locator("summary").click()
    line.get_by_text("reason").first.wait_for()
    # The whole chain, checked by a worker while the page shows how far it got.
    page.get_by_role("button", name="Verify chain").click()
    page.get_by_text("Chain verified").wait_for(timeout=60_000)
    screenshot(page, "story-auditor-change-log")
    # The export, checked offline with nothing but the public key.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export JSON Lines").click()
    export = tmp_path / "audit.jsonl"
    export.write_bytes(Path(download_info.value.path()).read_bytes())
    key = tmp_path / "key.pem"
    key.write_text(requests.get(f"{live_server.url}/audit/public-key.pem", timeout=10).text)
    script = outsider_copy(tmp_path)
    done = run(script, export, "--public-key", key)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("OK: ")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    with open(download_info.value.path(), encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    actions = [row["action"] for row in rows if row["record"] == "event"]
    assert "release.create" in actions and "item.not_applicable" in actions
    assert rows[-1]["record"] == "checkpoint"
    assert page.csp.violations == []


@pytest.fixture
def production(monkeypatch):
    with world.staging_database() as url:
        monkeypatch.setenv("E2E_PRODUCTION_DATABASE_URL", url)
        yield url


def test_the_sre_captures_and_verifies_a_backup_and_prepares_the_rollback_plan(
    page, live_server, demo_project, personas, production, tmp_path, settings, staging
):
    from migrations_ops.models import BackupManifest, Target

    prod = Target.objects.create(
        project=demo_project,
        name="production",
        kind="production",
        url_env_var="E2E_PRODUCTION_DATABASE_URL",
    )
    settings.BACKUP_DIR = tmp_path / "backups"
    server = RedisServer().start()
    worker = Worker(
        broker_url=server.url,
        database_name=connection.settings_dict["NAME"],
        log_path=tmp_path / "worker.log",
        concurrency=2,
        env={
            "DJANGO_SETTINGS_MODULE": "tests.e2e.worker_settings",
            world.STAGING_ENV: staging,
            "E2E_PRODUCTION_DATABASE_URL": production,
            "BACKUP_DIR": str(tmp_path / "backups"),
        },
    )
    release = release_with_demo(
        demo_project, personas["platform_lead"], personas["release_engineer"]
    )
    try:
        with celery_broker(server.url):
            worker.start()
            login(page, live_server, "sre", PASSWORD)
            page.goto(f"{live_server.url}/releases/{release.pk}/")
            panel = page.locator("#backups-panel")
            panel.get_by_label("Target").select_option(value=str(prod.pk))
            panel.get_by_label("Supabase dashboard backup (optional)").fill(
                "manual-2026-11-27-0900"
            )
            panel.get_by_role("button", name="Capture backup").click()
            # The panel refreshes itself until the restore check has passed.
            page.locator("#backups-panel .badge-passed").wait_for(timeout=90_000)
            backup = BackupManifest.objects.get()
            assert (
                backup.verify_state == "passed" and backup.snapshot_ref == "manual-2026-11-27-0900"
            )
            screenshot(page, "story-sre-backup-verified")
            page.get_by_role("link", name="Prepare a rollback plan").click()
            page.get_by_label("Target").select_option(value=str(prod.pk))
            page.get_by_role("button", name="Work out the plan").click()
            page.get_by_text("migration repair --status reverted 20250201090000").first.wait_for()
            page.get_by_role("button", name=re.compile("Save plan")).click()
            page.get_by_text("20250201090000").first.wait_for()
            screenshot(page, "story-sre-rollback-plan")
            page.goto(f"{live_server.url}/releases/{release.pk}/")
            backup_item = page.locator("li.item", has_text="Manual Supabase backup captured")
            backup_item.locator(".badge-passed").first.wait_for()
            plan_item = page.locator("li.item", has_text="Rollback commands prepared")
            plan_item.get_by_text("Rollback plan").first.wait_for()
            assert page.csp.violations == []
    finally:
        worker.stop()
        server.stop()
