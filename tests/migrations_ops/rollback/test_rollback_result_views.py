"""Rollback and rehearsal results as people read them, from real jobs against a real
"production" database: each step with its file, statements, time and result, where a
failure happened, the backup the plan relied on, and (a rehearsal) the schema before and
after. No server path, no JSON."""

from __future__ import annotations

import pytest
from django.urls import reverse

from migrations_ops.jobs import job_enqueue
from migrations_ops.models import Job
from migrations_ops.rollback.services import rehearsal_start, rollback_plan_save
from tests.migrations_ops.runners.test_result_views import SERVER_PATH, cells, page
from tests.sre_fixtures import FILES, deploy, make_release, run_job, verified_backup

pytestmark = pytest.mark.usefixtures("transactional_db", "sent")


def _rollback(release, target, sre, plan):
    return run_job(
        job_enqueue(kind="rollback", project=target.project, release=release, target=target,
                    params={"plan_id": plan.pk}, created_by=sre)
    )  # fmt: skip


def _steps(html):
    """The steps table without its time column (it varies)."""
    return [[c for i, c in enumerate(row) if i != 4] for row in cells(html, "job-steps")]


def test_a_rehearsal_shows_its_backup_each_step_and_the_schema_before_and_after(
    production, release, target, sre, client
):
    dump = verified_backup(release, target, sre).file_name
    deploy(production.url)
    plan = rollback_plan_save(release=release, target=target, user=sre)
    job = run_job(rehearsal_start(plan=plan, user=sre))
    assert job.state == Job.State.SUCCEEDED, job.summary

    html = page(client, sre, job)

    assert f"Rehearsed on a copy of</th><td><code>{dump}</code> (plain), taken 20" in html
    assert "restore check passed" in html and "newest migration then 20250102000000" in html
    assert _steps(html) == [
        ["1", "down script 20250104000000_account_phone.sql destroys data in column "
         "app.accounts.phone", "done", "1", "20250104000000"],
        ["2", "down script 20250103000000_invoices.sql destroys data in table app.invoices",
         "done", "1", "20250103000000"],
    ]  # fmt: skip
    assert all(row[4].endswith((" ms", " s")) for row in cells(html, "job-steps"))
    assert [r[:3] for r in cells(html, "job-files")] == [
        ["20250103000000_invoices.sql", "applied", "2"],
        ["20250104000000_account_phone.sql", "applied", "2"],
    ]
    release_changes = html.split("What the release changed", 1)[1].split("<h3", 1)[0]
    assert "added <code>app.invoices</code>" in release_changes
    assert "changed <code>app.accounts</code>: columns added: phone" in release_changes
    assert "Nothing: the schema is as the backup had it." in html
    assert "back to the backup's</span> newest 20250102000000" in html
    assert not SERVER_PATH.search(html), SERVER_PATH.search(html)
    assert "&quot;steps&quot;" not in html and '"history_after"' not in html


def test_a_rehearsal_that_leaves_the_schema_different_says_what_differs(
    production, sre_project, target, sre, platform_lead, client
):
    files = {**FILES, "rollbacks/20250104000000_account_phone.sql": "select 1;\n"}
    release = make_release(sre_project, platform_lead, files)
    verified_backup(release, target, sre)
    deploy(production.url, files)
    plan = rollback_plan_save(release=release, target=target, user=sre)
    job = run_job(rehearsal_start(plan=plan, user=sre))
    assert job.state == Job.State.FAILED

    html = page(client, sre, job)

    assert [row[2] for row in cells(html, "job-steps")] == ["done", "done"]
    assert "differs from the backup's" in html
    left = html.split("Left different after the plan ran", 1)[1].split("<h3", 1)[0]
    assert "changed <code>app.accounts</code>: columns added: phone" in left
    assert "Nothing: the schema is as the backup had it." not in html


def test_a_rehearsal_of_a_restore_names_the_backup_it_restored(
    production, sre_project, target, sre, platform_lead, client
):
    files = {k: v for k, v in FILES.items() if k != "rollbacks/20250103000000_invoices.sql"}
    release = make_release(sre_project, platform_lead, files)
    dump = verified_backup(release, target, sre).file_name
    deploy(production.url, files)
    plan = rollback_plan_save(release=release, target=target, user=sre)
    job = run_job(rehearsal_start(plan=plan, user=sre))
    assert job.state == Job.State.SUCCEEDED, job.summary

    html = page(client, sre, job)

    restore = _steps(html)[1]
    assert restore[0] == "2" and restore[1].startswith(
        f"restore from the backup {dump} writes since"
    )
    assert restore[2:] == ["done", "", "20250103000000"]
    assert not SERVER_PATH.search(html), SERVER_PATH.search(html)


def test_a_failed_rollback_says_which_file_and_line_and_what_was_not_attempted(
    production, sre_project, target, sre, platform_lead, client, personas
):
    bad = (
        "alter table app.accounts drop column phone;\n\n"
        "alter table app.accounts\n  drop column telephone;\n"
    )
    files = {**FILES, "rollbacks/20250104000000_account_phone.sql": bad}
    release = make_release(sre_project, platform_lead, files)
    dump = verified_backup(release, target, sre).file_name
    deploy(production.url, files)
    plan = rollback_plan_save(release=release, target=target, user=sre)
    job = _rollback(release, target, sre, plan)
    assert job.state == Job.State.FAILED

    html = page(client, sre, job).replace("&quot;", '"')

    banner = html.split('class="banner banner-bad job-failure"', 1)[1].split("</div>", 1)[0]
    assert "Step 1 (<code>20250104000000_account_phone.sql</code>) failed" in banner
    assert "20250104000000_account_phone.sql line 3 (statement 2)" in banner
    assert 'column "telephone" of relation "accounts" does not exist' in banner
    assert "drop column telephone" in banner  # the statement
    assert [(r[0], r[2], r[3], r[5]) for r in cells(html, "job-steps")] == [
        ("1", "failed at line 3", "2", ""),
        ("2", "not attempted", "", "20250103000000"),
    ]
    assert "Steps on production" in html and "(0 of 2 done)" in html
    assert f"Backup to fall back on</th><td><code>{dump}</code>" in html
    assert "Newest applied before</th><td>20250104000000" in html
    assert not SERVER_PATH.search(html), SERVER_PATH.search(html)
    # The result is the job page's: another project's member cannot open it.
    client.force_login(personas["outsider"])
    assert client.get(reverse("job_detail", kwargs={"pk": job.pk})).status_code == 404


def test_a_rollback_shows_each_step_done_and_where_the_history_ends(
    production, release, target, sre, client
):
    verified_backup(release, target, sre)
    deploy(production.url)
    plan = rollback_plan_save(release=release, target=target, user=sre)
    job = _rollback(release, target, sre, plan)
    assert job.state == Job.State.SUCCEEDED, job.summary

    html = page(client, sre, job)

    assert [(r[0], r[2], r[3], r[5]) for r in cells(html, "job-steps")] == [
        ("1", "done", "1", "20250104000000"),
        ("2", "done", "1", "20250103000000"),
    ]
    assert "(2 of 2 done)" in html and "job-failure" not in html
    assert "Newest applied after</th><td>20250102000000" in html
    assert "the plan's last good version: 20250102000000" in html
    assert not SERVER_PATH.search(html), SERVER_PATH.search(html)


def test_a_rollback_result_from_before_steps_were_timed_still_reads_as_steps(
    client, auditor, project
):
    from tests.migrations_ops.jobs.factories import JobFactory

    older = {"plan_id": 1, "history_before": ["20250101000000", "20250103000000"],
             "history_after": ["20250101000000"], "newest_applied_after": "20250101000000",
             "steps": [{"step": 1, "kind": "down", "ok": True, "reverts": ["20250103000000"],
                        "message": "20250103000000_invoices.sql ran; 20250103000000 reverted",
                        "failure": None}]}  # fmt: skip
    job = JobFactory(project=project, kind="rollback", state="succeeded", result=older)
    html = page(client, auditor, job)
    assert cells(html, "job-steps") == [["1", "down script", "done", "", "", "20250103000000"]]
    assert "Newest applied after</th><td>20250101000000" in html
