"""A rehearsal runs the release's code over a copy of production's rows: what it writes is
for SREs and platform leads only (``migrations_ops.jobs.output``).

A real rehearsal against a real "production" database, whose plan's down script (content a
release engineer uploads) reads a production row into a notice and into its error. The
SRE and the platform lead read it wherever the job's output is shown; the release
engineer, the QA lead and the auditor of the same project see the job, its state and the
portal's verdict, and why the rest is not shown; no API token reads it; and no record
every member (or a webhook's receiver) reads quotes it. Another project's member gets 404.
"""

from __future__ import annotations

import io
import json
import zipfile

import psycopg
import pytest
from django.urls import reverse

from checklists.models import Evidence
from migrations_ops.jobs.output import WITHHELD
from migrations_ops.models import Job
from migrations_ops.rollback.services import rehearsal_start, rollback_plan_save
from release_portal.api.tokens import token_create
from release_portal.audit.models import AuditEvent
from release_portal.webhooks.models import Webhook, WebhookMessage
from tests.sre_fixtures import FILES, deploy, make_release, run_job, verified_backup

pytestmark = pytest.mark.usefixtures("transactional_db", "sent")

# A production row's value: only a copy of production's rows holds it.
MARKER = "prodrow-5c1e@example.com"
READ = "(select name from app.accounts where id = 42)"
HOSTILE_DOWN = (
    f"do $$ begin raise notice 'seen %', {READ}; raise exception 'failed over %', {READ}; "
    "end $$;\nalter table app.accounts drop column phone;\n"
)
READERS = ["sre", "platform_lead"]
OTHERS = ["release_engineer", "qa_lead", "auditor"]
# How the page says it: apostrophes come out of the template escaped.
SAID = WITHHELD.replace("'", "&#x27;")


@pytest.fixture
def rehearsed(production, sre_project, target, platform_lead, sre):
    """A failed rehearsal whose down script quoted a production row (and a webhook told)."""
    with psycopg.connect(production.url, autocommit=True) as conn:
        conn.execute("update app.accounts set name = %s where id = 42", [MARKER])
    files = {**FILES, "rollbacks/20250104000000_account_phone.sql": HOSTILE_DOWN}
    release = make_release(sre_project, platform_lead, files)
    Webhook.objects.create(
        project=sre_project, name="ops", url="https://hooks.example.com/x", events=["job.failed"]
    )
    verified_backup(release, target, sre)
    deploy(production.url, files)
    plan = rollback_plan_save(release=release, target=target, user=sre)
    job = run_job(rehearsal_start(plan=plan, user=sre))
    # The planted row did reach the job's output: what the rest of the test hides.
    assert job.state == Job.State.FAILED
    assert MARKER in job.summary and MARKER in json.dumps(job.result)
    assert job.log_lines.filter(text__contains=MARKER).exists()
    return job


def _pages(client, job) -> dict[str, str]:
    """Each page that shows the job or what it wrote, as the signed-in person reads it."""
    plan_id = job.params["plan_id"]
    urls = {
        "job": reverse("job_detail", args=[job.pk]),
        "log": reverse("job_log", args=[job.pk]) + "?after=0",
        "jobs": reverse("release_jobs", args=[job.release_id]),
        "release": reverse("release_detail", args=[job.release_id]),
        "plan": reverse("rollback_detail", args=[plan_id]),
        "report": reverse("release_report", args=[job.release_id]),
    }
    out = {}
    for name, url in urls.items():
        response = client.get(url)
        assert response.status_code in (200, 286), (name, response.status_code)
        out[name] = response.content.decode()
    return out


def test_only_sres_and_platform_leads_read_what_a_rehearsal_over_production_wrote(
    client, personas, rehearsed
):
    job = rehearsed
    for role in READERS:
        client.force_login(personas[role])
        pages = _pages(client, job)
        for name in ("job", "log", "jobs", "plan"):
            assert MARKER in pages[name], (role, name)
            assert SAID not in pages[name], (role, name)
        raw = client.get(reverse("job_result_json", args=[job.pk]))
        assert raw.status_code == 200 and MARKER in raw.content.decode()

    for role in OTHERS:
        client.force_login(personas[role])
        pages = _pages(client, job)
        for name, html in pages.items():
            assert MARKER not in html, (role, name)
        # The job is there, failed, with the portal's verdict and the reason.
        assert "Rollback rehearsal failed" in pages["job"]
        assert 'class="badge badge-failed"' in pages["job"]
        assert SAID in pages["job"] and "data-raw-result" not in pages["job"]
        assert "Rollback rehearsal failed" in pages["jobs"]
        assert "data-output-withheld" in pages["plan"]
        raw = client.get(reverse("job_result_json", args=[job.pk]))
        assert raw.status_code == 403 and MARKER not in raw.content.decode()

    client.force_login(personas["outsider"])
    for url in (
        reverse("job_detail", args=[job.pk]),
        reverse("job_log", args=[job.pk]),
        reverse("job_result_json", args=[job.pk]),
    ):
        assert client.get(url).status_code == 404


def test_no_shared_record_of_a_rehearsal_over_production_quotes_its_rows(client, rehearsed):
    job = rehearsed
    # The notice (the change log every member reads) and the webhook message.
    notices = AuditEvent.objects.filter(action="notify.job.failed")
    assert notices.count() == 1
    message = WebhookMessage.objects.get(event="job.failed")
    body = json.loads(message.body)
    assert body["data"]["job"] == job.pk and body["data"]["state"] == "failed"
    assert "shown to SREs and platform leads only" in body["summary"]
    assert MARKER not in message.body
    for event in AuditEvent.objects.all():
        assert MARKER not in json.dumps(event.data), event.action
    # The checklist's evidence, shown to every member, in the API and the report.
    evidence = Evidence.objects.filter(job=job)
    assert evidence.exists()
    assert all(MARKER not in e.summary for e in evidence)


def test_no_api_token_reads_what_a_rehearsal_over_production_wrote(
    client, rehearsed, platform_lead
):
    job = rehearsed
    token = token_create(
        project=job.project, name="ci", scopes=["read", "report", "deploy"], user=platform_lead
    )
    auth = {"Authorization": f"Bearer {token.value}"}
    answer = client.get(f"/api/jobs/{job.pk}", {"after": 0}, headers=auth)
    assert answer.status_code == 200
    data = answer.json()
    assert MARKER not in answer.content.decode()
    assert data["lines"] == [] and data["done"] is True
    assert data["job"]["state"] == "failed" and data["job"]["ok"] is False
    assert data["job"]["summary"] == "Rollback rehearsal failed"
    assert data["job"]["error"] == "" and data["job"]["output_withheld"] == WITHHELD
    release = client.get(f"/api/releases/{job.release_id}", headers=auth)
    assert release.status_code == 200 and MARKER not in release.content.decode()


def test_the_evidence_pack_holds_a_rehearsals_output_for_a_platform_lead_only(
    client, personas, rehearsed
):
    job = rehearsed
    url = reverse("release_evidence_pack", args=[job.release_id])

    def pack_text(role: str) -> str:
        client.force_login(personas[role])
        response = client.get(url)
        assert response.status_code == 200
        archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
        return "".join(archive.read(n).decode(errors="replace") for n in archive.namelist())

    assert MARKER in pack_text("platform_lead")
    seen = pack_text("auditor")
    assert MARKER not in seen
    assert WITHHELD in seen
