"""The risk and access jobs, run for real by the job engine in the sandbox against a staging
database with tens of thousands of rows, and what the portal makes of their results: the
evidence on the dry-run and RLS steps, the lazy card, the API, the report and the pack,
each data loss against the release's verified backup and rollback plan."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import psycopg
import pytest
from django.urls import reverse
from django.utils import timezone

from checklists.models import Evidence
from checklists.reports.evidence_pack import evidence_pack_write
from checklists.reports.release_report import release_report_markdown
from checklists.services.migrations import release_upload_archive
from checklists.services.releases import release_create
from migrations_ops.jobs import dispatch
from migrations_ops.jobs.engine import job_execute
from migrations_ops.jobs.services import job_enqueue, preflight_start
from migrations_ops.models import BackupManifest, Job, RollbackPlan
from release_portal.api.tokens import token_create
from tests.factories import TargetFactory, published_runbook, supabase_archive

pytestmark = pytest.mark.django_db(transaction=True)

STAGING_ENV = "ANALYSIS_TEST_STAGING_URL"
ROWS = 20_000
ROLES = (
    "DO $$ BEGIN CREATE ROLE anon NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;\n"
    "DO $$ BEGIN CREATE ROLE authenticated NOLOGIN; "
    "EXCEPTION WHEN duplicate_object THEN NULL; END $$;\n"
    "DO $$ BEGIN CREATE ROLE service_role NOLOGIN BYPASSRLS; "
    "EXCEPTION WHEN duplicate_object THEN NULL; END $$;\n"
)
INIT = """
create table public.members (
  id bigint generated always as identity primary key,
  group_id int not null,
  phone text,
  note text
);
alter table public.members enable row level security;
"""
PENDING = {
    # A hazard: the unique index built without CONCURRENTLY (SHARE lock, blocks writes).
    "20250201000000_phone_index.sql": (
        "create unique index members_phone on public.members (group_id, phone);\n"
    ),
    # Data loss: every non-null note goes, and anon may suddenly read every member.
    "20250202000000_drop_note.sql": (
        "alter table public.members drop column note;\n"
        "grant select on public.members to anon;\n"
        "alter table public.members disable row level security;\n"
    ),
}


def _staging(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(ROLES)
        conn.execute("create schema supabase_migrations")
        conn.execute(
            "create table supabase_migrations.schema_migrations "
            "(version text primary key, statements text[], name text)"
        )
        conn.execute(INIT)
        conn.execute(
            "insert into supabase_migrations.schema_migrations values "
            "('20250101000000', null, 'init')"
        )
        conn.execute(
            "insert into public.members (group_id, phone, note) "
            "select i %% 50, '+2507' || i, case when i %% 4 = 0 then null else 'n' || i end "
            "from generate_series(1, %s) i",
            [ROWS],
        )
        conn.execute("analyze public.members")


@pytest.fixture
def world(project, platform_lead, release_engineer, make_database, monkeypatch, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    url = make_database("analysis_staging")
    _staging(url)
    monkeypatch.setenv(STAGING_ENV, url)
    published_runbook(project)
    project.high_risk_requires_sre = True
    project.fixture_files = ["supabase/tests/fixtures/roles.sql"]
    project.save()
    target = TargetFactory(project=project, name="staging", kind="staging", url_env_var=STAGING_ENV)
    release = release_create(
        project=project, title="Phones", owner=platform_lead, commit_sha="c" * 40,
        created_by=release_engineer,
    )  # fmt: skip
    files = {
        "migrations/20250101000000_init.sql": INIT,
        **{f"migrations/{name}": sql for name, sql in PENDING.items()},
        "tests/fixtures/roles.sql": ROLES,
        # The RLS tests read members as anon, and write nothing.
        "tests/rls/members.test.sql": (
            "set role anon;\nselect count(*) from public.members;\nreset role;\n"
        ),
    }
    release_upload_archive(
        release=release, data=supabase_archive(files), filename="b.zip", actor=release_engineer
    )
    release.refresh_from_db()
    return {"release": release, "target": target, "staging": url, "project": project}


def token(project, lead, *scopes: str, name: str = "ci") -> str:
    return token_create(project=project, name=name, scopes=list(scopes), user=lead).value


def run(kind: str, world) -> Job:
    job = job_enqueue(
        kind=kind, project=world["project"], release=world["release"], target=world["target"]
    )
    job_execute(job_id=job.pk, worker="analysis-test")
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED, (job.kind, job.summary, job.error)
    return job


def verified_backup(world, *, applied: list[str], schemas=("public",)) -> BackupManifest:
    now = timezone.now()
    return BackupManifest.objects.create(
        project=world["project"], release=world["release"], target=world["target"],
        schemas=list(schemas), location="/nowhere", file_name="staging-1.sql",
        file_key="k", manifest_key="m", sha256="0" * 64, size=1,
        applied_versions=applied,
        tables=[{"schema": "public", "table": "members", "rows": ROWS}], total_rows=ROWS,
        started_at=now - timedelta(minutes=1), finished_at=now,
        verify_state=BackupManifest.Verify.PASSED, verified_at=now,
    )  # fmt: skip


def test_risk_and_access_run_in_the_sandbox_and_become_information(world, client, personas):
    release = world["release"]
    risk = run(Job.Kind.RISK, world)
    access = run(Job.Kind.ACCESS, world)

    # Both ran in the sandbox, and never changed staging.
    assert risk.result["sandbox"]["mode"] == "bwrap"
    assert access.result["sandbox"]["mode"] == "bwrap"
    with psycopg.connect(world["staging"]) as conn:
        assert conn.execute("select count(note) from public.members").fetchone()[0] == 15_000

    # The real hazard, counted loss and access change.
    index = next(s for s in risk.result["statements"] if s["file"].endswith("phone_index.sql"))
    assert index["lock"] == "SHARE"
    assert "create_index_not_concurrently" in [h["code"] for h in index["hazards"]]
    drop = next(s for s in risk.result["statements"] if "drop column" in s["sql"].lower())
    assert drop["destroys"] == 15_000
    # The project's "dry run with data" is off: staging's rows stay out of the sandbox.
    assert access.result["rows"]["copied"] == "none"
    assert any(
        c["principal"] == "anon"
        and c["operation"] == "SELECT"
        and c["relation"] == "public.members"
        for c in access.result["changes"]
    ), access.result["change_lines"]

    # Evidence: information on the dry-run step (risk) and the RLS steps (access); it
    # neither passes nor fails any item.
    risk_evidence = Evidence.objects.filter(job=risk)
    assert risk_evidence.exists()
    assert {e.status for e in risk_evidence} == {Evidence.Status.INFO}
    assert all("job:dry_run" in e.item.step.evidence_kinds for e in risk_evidence)
    access_evidence = Evidence.objects.filter(job=access)
    assert access_evidence.exists()
    assert {e.status for e in access_evidence} == {Evidence.Status.INFO}
    assert all(
        {"job:rls", "job:fixtures"} & set(e.item.step.evidence_kinds) for e in access_evidence
    )
    release.refresh_from_db()
    assert release.items.filter(state="done").count() == 0

    # The card, lazily loaded by its own view: hazards first, the ledger, the access diff.
    client.force_login(personas["auditor"])
    html = client.get(reverse("release_analysis", args=[release.pk]), HTTP_HX_REQUEST="true")
    text = html.content.decode().replace("<wbr>", "")  # file names may wrap at "_"
    assert html.status_code == 200
    assert text.index("phone_index.sql") < text.index("anon SELECT")
    assert "CONCURRENTLY" in text and "15,000" in text
    assert "anon SELECT public.members" in text
    rows = text.split('id="risk-table"')[1].split("</table>")[0].split("<tr class=")
    assert "risk-high" in rows[1] or "risk-medium" in rows[1]
    # Sorted by file and line on request.
    by_file = client.get(reverse("release_analysis", args=[release.pk]) + "?sort=file")
    body = by_file.content.decode().replace("<wbr>", "").split('id="risk-table"')[1]
    assert body.index("20250201000000_phone_index.sql") < body.index("20250202000000_drop_note")

    # The report and the evidence pack say the same.
    report = release_report_markdown(release)
    assert "## What this release does" in report
    assert "Data loss" in report and "15,000" in report
    buffer = io.BytesIO()
    evidence_pack_write(release, buffer)
    with zipfile.ZipFile(buffer) as pack:
        analysis = json.loads(pack.read("analysis.json"))
    assert analysis["risk"]["job"]["id"] == risk.pk
    assert analysis["access"]["job"]["id"] == access.pk


def test_each_loss_says_whether_the_verified_backup_holds_it_and_which_step_brings_it_back(
    world, client, personas
):
    release = world["release"]
    run(Job.Kind.RISK, world)
    backup = verified_backup(world, applied=["20250101000000"])
    RollbackPlan.objects.create(
        project=world["project"], release=release, target=world["target"], backup=backup,
        steps=[
            {"kind": "down", "version": "20250201000000", "reverts": ["20250201000000"],
             "file": "20250201000000_phone_index.sql", "loses_text": "loses no data"},
            {"kind": "restore", "backup_id": backup.pk, "file": backup.file_name,
             "reverts": ["20250202000000"], "loses_text": "writes since the backup are lost"},
        ],
    )  # fmt: skip
    client.force_login(personas["sre"])
    answer = client.get(reverse("release_analysis", args=[release.pk])).content.decode()
    assert f"backup #{backup.pk} (staging-1.sql" in answer
    assert "holds public.members with 20,000 row(s)" in answer
    assert "step 2 restores backup staging-1.sql" in answer
    assert "writes since the backup are lost" in answer

    # A backup taken after the migration ran holds nothing of what it destroyed.
    backup.applied_versions = ["20250101000000", "20250202000000"]
    backup.save()
    answer = client.get(reverse("release_analysis", args=[release.pk])).content.decode()
    assert "was taken after 20250202000000_drop_note.sql was applied" in answer


def test_the_preflight_queues_risk_and_access_against_staging(world, release_engineer, monkeypatch):
    sent: list[str] = []
    monkeypatch.setattr(dispatch, "job_send", lambda *, job_id, kind, queue: sent.append(kind))
    jobs = preflight_start(release=world["release"], user=release_engineer)
    kinds = {job.kind: job for job in jobs}
    assert {Job.Kind.RISK, Job.Kind.ACCESS} <= set(kinds)
    assert kinds[Job.Kind.RISK].target == world["target"]
    assert {Job.Kind.RISK, Job.Kind.ACCESS} <= set(sent)


def test_a_member_of_another_project_gets_404_and_tokens_need_read(
    world, client, personas, other_project
):
    release = world["release"]
    url = reverse("release_analysis", args=[release.pk])
    client.force_login(personas["outsider"])
    assert client.get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302  # to the login page

    own = token(world["project"], personas["platform_lead"], "read")
    foreign = token(other_project, personas["outsider"], "read")
    api = f"/api/releases/{release.pk}/analysis"
    assert client.get(api, HTTP_AUTHORIZATION=f"Bearer {foreign}").status_code == 404
    answer = client.get(api, HTTP_AUTHORIZATION=f"Bearer {own}")
    assert answer.status_code == 200
    assert answer.json() == {
        "release": release.pk, "content_digest": release.content_digest,
        "risk": None, "access": None,
    }  # fmt: skip
    deploy_only = token(world["project"], personas["platform_lead"], "deploy", name="d")
    assert client.get(api, HTTP_AUTHORIZATION=f"Bearer {deploy_only}").status_code == 403


def test_the_api_lists_every_statement_with_the_documented_keys(world, client, personas):
    risk = run(Job.Kind.RISK, world)
    value = token(world["project"], personas["platform_lead"], "read")
    answer = client.get(
        f"/api/releases/{world['release'].pk}/analysis", HTTP_AUTHORIZATION=f"Bearer {value}"
    ).json()
    assert answer["risk"]["job"] == {**answer["risk"]["job"], "id": risk.pk, "current": True}
    keys = {"file", "line", "tables", "lock", "rewrites", "destroys", "hazards"}
    assert all(keys <= set(s) for s in answer["risk"]["statements"])
    assert answer["risk"]["statements"][0]["hazards"]  # hazards first
    schema = client.get("/api/openapi.json").json()
    assert "/api/releases/{release_id}/analysis" in schema["paths"]


def test_each_access_change_says_whether_the_rls_tests_exercised_it(world, client, personas):
    release = world["release"]
    run(Job.Kind.ACCESS, world)
    value = token(world["project"], personas["platform_lead"], "read")
    api = f"/api/releases/{release.pk}/analysis"

    def access() -> dict:
        answer = client.get(api, HTTP_AUTHORIZATION=f"Bearer {value}")
        assert answer.status_code == 200
        return answer.json()["access"]

    unmeasured = access()
    assert unmeasured["exercised_by_tests"] is None
    assert {c["tested"] for c in unmeasured["changes"]} == {None}

    rls = run(Job.Kind.RLS, world)
    assert rls.result["exercised"]["tables"] == {"public.members": ["SELECT"]}
    measured = access()
    assert measured["rls_job"] == rls.pk
    cells = {(c["relation"], c["operation"]): c["tested"] for c in measured["exercised_by_tests"]}
    assert cells[("public.members", "SELECT")] is True
    assert cells[("public.members", "INSERT")] is False
    anon = next(
        c for c in measured["changes"]
        if (c["principal"], c["operation"]) == ("anon", "SELECT")
    )  # fmt: skip
    assert anon["tested"] is True
    client.force_login(personas["qa_lead"])
    card = client.get(reverse("release_analysis", args=[release.pk])).content.decode()
    assert "exercised by the RLS tests" in card


@pytest.mark.parametrize("kind", [Job.Kind.RISK, Job.Kind.ACCESS])
def test_they_start_like_the_other_checks_with_the_same_permissions(
    world, client, personas, monkeypatch, kind
):
    monkeypatch.setattr(dispatch, "job_send", lambda *, job_id, kind, queue: None)
    release = world["release"]
    start = reverse("release_job_start", args=[release.pk])
    data = {"kind": kind, "target": world["target"].pk}
    for who in ("auditor", "sre"):  # may not run checks
        client.force_login(personas[who])
        assert client.post(start, data).status_code == 403
    assert not Job.objects.filter(kind=kind).exists()
    client.force_login(personas["qa_lead"])
    assert client.post(start, data).status_code == 302
    assert Job.objects.get(kind=kind).target == world["target"]

    report = token(world["project"], personas["platform_lead"], "report")
    answer = client.post(
        f"/api/releases/{release.pk}/jobs", {"kind": kind, "target": "staging"},
        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {report}",
    )  # fmt: skip
    assert answer.status_code == 200 and answer.json()["already_active"] is True
    read_only = token(world["project"], personas["platform_lead"], "read", name="r")
    answer = client.post(
        f"/api/releases/{release.pk}/jobs", {"kind": kind, "target": "staging"},
        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {read_only}",
    )  # fmt: skip
    assert answer.status_code == 403


def test_the_job_pages_show_their_own_results(world, client, personas):
    risk = run(Job.Kind.RISK, world)
    access = run(Job.Kind.ACCESS, world)
    client.force_login(personas["auditor"])
    page = client.get(reverse("job_detail", args=[risk.pk])).content.decode()
    assert 'class="job-result job-result-risk"' in page
    assert "CREATE INDEX without CONCURRENTLY" in page and "15,000" in page
    # The schema change in words, as the dry run's page says it: not "tables: ~ public.members".
    card = client.get(reverse("release_analysis", args=[risk.release_id])).content.decode()
    for html in (page, card):
        assert "changed <code>public.members</code>: rls: on → off; columns removed: note" in html
        assert "added <code>public.members_phone</code>" in html
        assert "~ public.members" not in html and "+ public.members_phone" not in html
    page = client.get(reverse("job_detail", args=[access.pk])).content.decode()
    assert 'class="job-result job-result-access"' in page
    assert "anon SELECT public.members" in page
