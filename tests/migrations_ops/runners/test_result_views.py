"""Each kind's result view, shown with results the real runners produce (the same
fixtures as the runners' own tests): readable tables instead of JSON, no server path."""

from __future__ import annotations

import json
import re

import psycopg
import pytest
from django.urls import reverse

from migrations_ops.jobs.engine import _jsonable
from migrations_ops.jobs.results import RESULT_VIEWS, result_view_for
from migrations_ops.models import Job
from migrations_ops.runners import backup, drift, dry_run, order, pending, restore_check, rls
from migrations_ops.runners.base import RunContext
from tests.html import inline_code
from tests.migrations_ops.backup_fixtures import ROLE, make_ctx, production_database
from tests.migrations_ops.jobs.factories import JobFactory
from tests.migrations_ops.runners.test_drift import INIT as DRIFT_INIT
from tests.migrations_ops.runners.test_drift import NOTES
from tests.migrations_ops.runners.test_dry_run import ADD_INVOICES, INIT
from tests.migrations_ops.runners.test_rls import HELPERS, SEED, TAP_WITHOUT_PGTAP
from tests.migrations_ops.runners.test_rls import INIT as RLS_INIT
from tests.migrations_ops.supabase_project import supabase_folder, target_database

# What must never reach the page: the machine's folders.
SERVER_PATH = re.compile(r"site-packages|/tmp/|pytest-of-|/job/in|release-portal-sandbox")


def stored(project, kind, run_result, **extra):
    """The job row the engine would write for this runner result."""
    return JobFactory(
        project=project,
        kind=kind,
        state=Job.State.SUCCEEDED if run_result.ok else Job.State.FAILED,
        ok=run_result.ok,
        summary=run_result.summary,
        result=_jsonable(run_result.data),
        **extra,
    )


def page(client, user, job) -> str:
    client.force_login(user)
    response = client.get(reverse("job_detail", kwargs={"pk": job.pk}))
    assert response.status_code == 200
    html = response.content.decode()
    assert inline_code(html) == []
    return html


def cells(html: str, table_class: str) -> list[list[str]]:
    """The body rows of the table with ``table_class``, as the text of their cells."""
    table = re.search(rf'<table class="table {table_class}">(.*?)</table>', html, re.S)
    assert table, f"no table.{table_class}"
    body = table.group(1).split("<tbody>", 1)[1]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    return [
        [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in re.findall(
            r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in rows
    ]  # fmt: skip


@pytest.fixture
def project_with_tests(repo):
    """test_rls's project: a table with a policy, a seed and a helper file."""
    repo.migration("20240101000000", "init", RLS_INIT)
    repo.write("supabase/seed.sql", SEED)
    repo.write("supabase/tests/00000-helpers.sql", HELPERS)
    return repo


def test_every_kind_has_a_view_or_the_generic_one():
    for kind in Job.Kind.values:
        assert result_view_for(kind).template.startswith("migrations_ops/jobs/results/")
    # Every kind has its own; the generic view is for a kind added without one.
    assert set(RESULT_VIEWS) == set(Job.Kind.values)
    assert result_view_for("a_new_kind").template.endswith("generic.html")


def test_a_dry_run_is_a_table_of_files_and_a_list_of_schema_changes(
    repo, staging, client, auditor, project
):
    repo.migration("20240101000000", "init", INIT)
    repo.migration("20240102000000", "invoices", ADD_INVOICES)
    repo.apply_to(staging, "20240101000000")
    job = stored(project, "dry_run", dry_run.run(repo.context(staging)))

    html = page(client, auditor, job)

    assert cells(html, "job-files") == [
        ["20240102000000_invoices.sql", "applied", "5", cells(html, "job-files")[0][3]]
    ]
    assert "added <code>public.invoices</code>" in html
    assert "added <code>public.audit_trail</code>" in html
    assert "added <code>public.invoices.members read</code>" in html
    assert "<strong>Policies</strong>" in html and "<strong>Indexes</strong>" in html
    assert "New tables without row level security: public.audit_trail" in html
    assert not SERVER_PATH.search(html), SERVER_PATH.search(html)
    assert '"catalog_changes"' not in html and "&quot;apply&quot;" not in html  # no JSON


def test_a_failed_dry_run_says_which_line_failed_and_what_was_not_attempted(
    repo, staging, client, auditor, project
):
    repo.migration("20240101000000", "init", INIT)
    repo.migration("20240102000000", "broken", "select 1;\nalter table public.acounts\n add x int;")
    repo.migration("20240103000000", "later", "select 1;")
    repo.apply_to(staging, "20240101000000")
    job = stored(project, "dry_run", dry_run.run(repo.context(staging)))

    html = page(client, auditor, job)

    rows = cells(html, "job-files")
    assert [(r[0].split()[0], r[1]) for r in rows] == [
        ("20240102000000_broken.sql", "failed at line 2"),
        ("20240103000000_later.sql", "not attempted"),
    ]
    assert 'relation "public.acounts" does not exist' in html.replace("&quot;", '"')
    assert "What to do: fix the statement" in html


def test_rls_is_a_table_of_test_files_whose_counts_agree(
    project_with_tests, client, auditor, project
):
    repo = project_with_tests
    repo.write("supabase/tests/rls/tap.test.sql", TAP_WITHOUT_PGTAP)
    result = rls.run(repo.context(None, seed_files=["supabase/seed.sql"]))
    files = {f["file"]: f for f in result.data["files"]}
    # A plain SQL file that ran without an error passed: its "passed" says so too.
    assert files["00000-helpers.sql"]["ok"] is files["00000-helpers.sql"]["passed"] is True
    assert files["rls/tap.test.sql"]["assertions_passed"] == 2
    assert files["rls/tap.test.sql"]["assertions_failed"] == 1
    job = stored(project, "rls", result)

    html = page(client, auditor, job)

    assert cells(html, "job-tests") == [
        ["00000-helpers.sql", "plain SQL", "passed", "—", "—", "—", cells(html, "job-tests")[0][6]],
        [
            "rls/tap.test.sql rls/tap.test.sql: not ok 2 - anon cannot read accounts "
            "not ok 2 - anon cannot read accounts",
            "pgTAP", "failed", "3", "2", "1", cells(html, "job-tests")[1][6],
        ],
    ]  # fmt: skip
    assert "1 of 2 test file(s) passed; pgTAP assertions: 2 passed, 1 failed." in html


def test_a_passing_rls_summary_counts_what_the_table_shows(project_with_tests):
    repo = project_with_tests
    repo.write("supabase/tests/rls/plain.test.sql", "select 1;\n")
    repo.write("supabase/tests/rls/tap.test.sql", TAP_WITHOUT_PGTAP.replace("not ok 2", "ok 2"))
    result = rls.run(repo.context(None))
    assert result.ok, result.summary
    assert result.summary == (
        "3 test file(s) passed (1 pgTAP file(s), 3 of 3 assertion(s) passed; "
        "2 plain SQL file(s) ran without an error)"
    )
    assert [f["passed"] for f in result.data["files"]] == [True, True, True]


@pytest.fixture
def production(tmp_path_factory):
    with production_database(tmp_path_factory.mktemp("production")) as prod:
        yield prod


def test_a_backup_is_its_manifest_and_its_restore_check_its_verdict(
    production, sandbox, tmp_path, client, sre, project
):
    out = tmp_path / "backups"
    made = backup.run(make_ctx(production=production, options={"out_dir": str(out)}))
    job = stored(project, "backup", made)

    html = page(client, sre, job)

    assert f"<code>{made.data['file']}</code> (plain," in html
    assert made.data["sha256"] in html
    assert '<td><code>app.orders</code></td><td class="num">4000</td>' in html
    assert "Tables (4, 5500 rows)" in html
    assert "with pg_dump " in html  # the binary's name, not where it is installed
    roles = ", ".join(f"<code>{r}</code>" for r in made.data["roles"])
    assert ROLE in made.data["roles"] and f"Roles it needs</th><td>{roles} " in html
    assert not SERVER_PATH.search(html), SERVER_PATH.search(html)
    raw = client.get(reverse("job_result_json", kwargs={"pk": job.pk}))
    assert raw["Content-Type"] == "application/json"
    body = raw.json()
    assert body["result"]["sha256"] == made.data["sha256"]
    assert body["result"]["pg_dump"]["path"] == "pg_dump"
    assert not SERVER_PATH.search(raw.content.decode())
    # The stored result keeps the real location: the backups feature reads it.
    assert Job.objects.get(pk=job.pk).result["path"].startswith(str(out))

    checked = restore_check.run(
        make_ctx(
            sandbox=sandbox,
            fixtures=[production.role_fixture],
            options={"manifest": made.data["manifest_path"]},
        )
    )
    html = page(client, sre, stored(project, "restore_check", checked))
    assert "restored and matches" in html
    assert "4 table(s), 5500 row(s)" in html
    assert not SERVER_PATH.search(html), SERVER_PATH.search(html)


def test_the_raw_result_is_a_link_and_not_in_the_page(client, auditor, project):
    job = JobFactory(project=project, kind="order", state="succeeded", result={"files": [
        {"filename": "20240101000000_a.sql", "nested": {"deep": {"x": 1}}}]})  # fmt: skip
    html = page(client, auditor, job)
    assert f'href="{reverse("job_result_json", kwargs={"pk": job.pk})}"' in html
    assert "raw result" in html
    assert "&quot;deep&quot;" not in html and '"deep"' not in html
    assert json.loads(client.get(reverse("job_result_json", kwargs={"pk": job.pk})).content)[
        "result"
    ]["files"][0]["nested"] == {"deep": {"x": 1}}


def test_the_raw_result_has_the_job_pages_permission(client, personas, project, other_project):
    job = JobFactory(project=project, kind="order", state="succeeded", result={"ok": 1})
    url = reverse("job_result_json", kwargs={"pk": job.pk})
    assert client.get(url).status_code == 302  # signed out: to the login page
    client.force_login(personas["outsider"])  # a member of another project
    assert client.get(url).status_code == 404
    theirs = JobFactory(project=other_project, kind="order", state="succeeded")
    assert client.get(reverse("job_result_json", kwargs={"pk": theirs.pk})).status_code == 200
    client.force_login(personas["auditor"])
    assert client.get(url).status_code == 200
    assert client.get(reverse("job_result_json", kwargs={"pk": theirs.pk})).status_code == 404


def test_a_result_of_an_unexpected_shape_falls_back_to_the_generic_view(client, auditor, project):
    job = JobFactory(project=project, kind="rls", state="failed", result={"files": "not a list"})
    html = page(client, auditor, job)
    assert "Files" in html and "not a list" in html


def test_drift_is_a_list_of_what_differs_from_the_migrations(
    repo, staging, client, auditor, project
):

    repo.migration("20240101000000", "init", DRIFT_INIT)
    repo.migration("20240102000000", "notes", NOTES)
    repo.apply_to(staging, "20240101000000", "20240102000000")
    with psycopg.connect(staging, autocommit=True) as conn:
        conn.execute("create table public.hand_made (id int)")
        conn.execute("alter table public.notes add column pinned boolean")
    html = page(client, auditor, stored(project, "drift", drift.run(repo.context(staging))))
    assert "only on the target: <code>public.hand_made</code>" in html
    assert "differs: <code>public.notes</code>: columns added: pinned" in html
    assert [r[1] for r in cells(html, "job-files")] == ["applied", "applied"]
    assert not SERVER_PATH.search(html), SERVER_PATH.search(html)


def test_pending_and_order_show_the_targets_history_against_the_files(
    tmp_path, client, auditor, project
):
    folder = supabase_folder(
        tmp_path,
        {"20240101000000_a.sql": "select 1;", "20240102000000_b.sql": "select 2;",
         "add_users.sql": "select 3;"},
    )  # fmt: skip
    with target_database([("20240101000000", "a", ["select 1"])]) as url:
        ctx = RunContext(supabase_dir=folder, database_url=url, target_name="staging",
                         log=lambda s, t: None)  # fmt: skip
        read = pending.run(ctx)
        ordered = order.run(ctx)
    html = page(client, auditor, stored(project, "pending", read))
    assert cells(html, "job-applied") == [["20240101000000", "20240101000000_a.sql"]]
    assert "<li><code>20240102000000_b.sql</code></li>" in html
    html = page(client, auditor, stored(project, "order", ordered))
    assert cells(html, "job-order") == [
        ["20240101000000_a.sql", "20240101000000", "applied"],
        ["20240102000000_b.sql", "20240102000000", "pending"],
    ]
    assert "<code>add_users.sql</code>: the CLI skips it" in html
    assert not SERVER_PATH.search(html), SERVER_PATH.search(html)


def test_a_dry_run_says_which_applied_file_differs_from_the_targets_history(
    repo, staging, client, auditor, project
):
    repo.migration("20240101000000", "init", INIT)
    repo.apply_to(staging, "20240101000000")
    repo.migration("20240101000000", "init", INIT + "\ncreate table public.extra (id int);\n")
    repo.migration("20240102000000", "invoices", ADD_INVOICES)
    result = dry_run.run(repo.context(staging))
    assert not result.ok
    html = page(client, auditor, stored(project, "dry_run", result)).replace("&#x27;", "'")
    assert '<p class="msg msg-warning">20240101000000_init.sql' in html
    assert not SERVER_PATH.search(html), SERVER_PATH.search(html)


def test_a_backup_says_when_it_was_taken_in_words_and_a_failed_restore_says_so(
    client, sre, project
):
    job = JobFactory(project=project, kind="backup", state="succeeded", ok=True, result={
        "file": "20261205T140307Z_pre_migration.sql", "format": "plain", "size": 10,
        "started_at": "2026-12-05T14:03:07.621Z", "finished_at": "2026-12-05T14:03:08.095Z",
        "pg_dump": {"path": "pg_dump", "version": "18.6"}, "tables": []})  # fmt: skip
    html = page(client, sre, job)
    assert "2026-12-05 14:03:07 UTC to 2026-12-05 14:03:08 UTC with pg_dump 18.6" in html
    assert "2026-12-05T14:03" not in html
    error = 'psql:<stdin>:29: ERROR:  role "owner" does not exist'
    verification = {"ok": False, "summary": error, "tables_checked": 0,
                    "differences": [{"problem": "restore", "message": error}]}  # fmt: skip
    failed = JobFactory(project=project, kind="restore_check", state="failed", ok=False,
                        summary=error, result={"verification": verification})  # fmt: skip
    html = page(client, sre, failed)
    # It never got to compare anything: not "does not match".
    assert '<span class="badge badge-bad">restore failed</span>' in html
    assert "does not match" not in html
