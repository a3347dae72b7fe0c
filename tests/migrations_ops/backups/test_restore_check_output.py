"""A restore check restores a backup of production: pg_restore's own errors can quote its
rows ("Key (email)=(…) already exists"). What it wrote is for SREs and platform leads only
(``migrations_ops.jobs.output``), on the job and wherever it was copied: the backup's
verification, its pages, the release's backups panel, the backups' CHANGELOG.md and the
evidence pack. Every member still sees that the check ran and whether it passed.

The backup is real (pg_dump of a real "production"); the failing check is a job row as
the engine would end it (a restore error quoting a row), ended through the real end
hooks (``record_job_end``): its audit event, the backup's verification, the checklist's
evidence and the job.failed notice and webhook.
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from checklists.models import Evidence
from migrations_ops.jobs.dispatch import record_job_end
from migrations_ops.jobs.output import WITHHELD
from migrations_ops.models import BackupManifest, Job
from release_portal.api.tokens import token_create
from release_portal.audit.models import AuditEvent
from release_portal.audit.services import Actor
from release_portal.webhooks.models import Webhook, WebhookMessage
from tests.migrations_ops.jobs.factories import JobFactory, add_log_lines
from tests.sre_fixtures import verified_backup

pytestmark = pytest.mark.usefixtures("transactional_db", "sent")

MARKER = "alice-7d2b@example.com"
RESTORE_ERROR = (
    'psql:dump.sql:120: ERROR:  duplicate key value violates unique constraint "users_email_key"'
    f"\nDETAIL:  Key (email)=({MARKER}) already exists."
)
READERS = ["sre", "platform_lead"]
OTHERS = ["release_engineer", "qa_lead", "auditor"]


@pytest.fixture
def failed_check(production, release, target, sre):
    """The release's production backup, then a restore check of it that failed quoting a
    row, ended through the real hooks (a webhook subscribed to job.failed)."""
    backup = verified_backup(release, target, sre)
    Webhook.objects.create(
        project=release.project, name="ops", url="https://hooks.example.com/x",
        events=["job.failed", "backup.verified"],
    )  # fmt: skip
    now = timezone.now()
    summary = f"restore failed: Key (email)=({MARKER}) already exists"
    job = JobFactory(
        project=release.project, release=release, target=target, kind="restore_check",
        state=Job.State.FAILED, ok=False, summary=summary, error=RESTORE_ERROR,
        params={"backup_id": backup.pk}, content_digest=release.content_digest,
        created_by=sre, created_by_name=sre.username, started_at=now, finished_at=now,
        result={"verification": {
            "ok": False, "summary": summary, "verified_at": now.isoformat(),
            "differences": [{"problem": "restore", "message": RESTORE_ERROR}],
        }},
    )  # fmt: skip
    add_log_lines(job, 1, text=RESTORE_ERROR)
    with transaction.atomic():
        record_job_end(job, actor=Actor.system("worker test"))
    backup.refresh_from_db()
    assert backup.verify_state == BackupManifest.Verify.FAILED
    assert MARKER in json.dumps(backup.verification)  # what the pages must not show
    return job, backup


def _pages(client, job, backup) -> dict[str, str]:
    urls = {
        "job": reverse("job_detail", args=[job.pk]),
        "log": reverse("job_log", args=[job.pk]) + "?after=0",
        "jobs": reverse("release_jobs", args=[job.release_id]),
        "backup": reverse("backup_detail", args=[backup.pk]),
        "backups": reverse("backup_list"),
        "panel": reverse("backups_panel", args=[job.release_id]),
        "release": reverse("release_detail", args=[job.release_id]),
        "changelog": reverse("backup_changelog", args=[job.project.slug]),
        "report": reverse("release_report", args=[job.release_id]),
    }
    out = {}
    for name, url in urls.items():
        # The release page draws the backups panel; htmx asks for it alone.
        response = client.get(url, headers={"HX-Request": "true"} if name == "panel" else {})
        assert response.status_code in (200, 286), (name, response.status_code)
        out[name] = response.content.decode()
    return out


def test_only_sres_and_platform_leads_read_what_a_restore_check_found(
    client, personas, failed_check
):
    job, backup = failed_check
    for role in READERS:
        client.force_login(personas[role])
        pages = _pages(client, job, backup)
        for name in ("job", "log", "jobs", "backup", "backups", "panel", "changelog"):
            assert MARKER in pages[name], (role, name)
        assert MARKER in client.get(reverse("job_result_json", args=[job.pk])).content.decode()

    for role in OTHERS:
        client.force_login(personas[role])
        pages = _pages(client, job, backup)
        for name, html in pages.items():
            assert MARKER not in html, (role, name)
        assert "Restore check failed" in pages["job"] and "data-output-withheld" in pages["job"]
        assert "Verification failed" in pages["backup"]
        assert "data-output-withheld" in pages["backup"]
        assert "shown to SREs and platform leads only" in pages["backups"]
        assert "data-output-withheld" in pages["panel"]
        assert "**FAILED**" in pages["changelog"]
        assert "shown to SREs and platform leads only" in pages["changelog"]
        assert client.get(reverse("job_result_json", args=[job.pk])).status_code == 403

    client.force_login(personas["outsider"])
    assert client.get(reverse("job_detail", args=[job.pk])).status_code == 404
    assert client.get(reverse("backup_detail", args=[backup.pk])).status_code == 404


def test_no_shared_record_of_a_restore_check_quotes_what_it_found(client, failed_check):
    job, _backup = failed_check
    message = WebhookMessage.objects.get(event="job.failed")
    assert json.loads(message.body)["data"]["job"] == job.pk
    assert MARKER not in message.body
    assert AuditEvent.objects.filter(action="notify.job.failed").count() == 1
    for event in AuditEvent.objects.all():
        assert MARKER not in json.dumps(event.data), event.action
    evidence = Evidence.objects.filter(job=job)
    assert evidence.exists() and all(MARKER not in e.summary for e in evidence)


def test_no_api_token_reads_what_a_restore_check_found(client, failed_check, platform_lead):
    job, _backup = failed_check
    token = token_create(
        project=job.project, name="ci", scopes=["read", "report", "deploy"], user=platform_lead
    )
    answer = client.get(
        f"/api/jobs/{job.pk}", {"after": 0}, headers={"Authorization": f"Bearer {token.value}"}
    )
    assert answer.status_code == 200 and MARKER not in answer.content.decode()
    data = answer.json()
    assert data["lines"] == []
    assert (data["job"]["summary"], data["job"]["output_withheld"]) == (
        "Restore check failed",
        WITHHELD,
    )


def test_the_evidence_pack_holds_what_a_restore_check_found_for_a_platform_lead_only(
    client, personas, failed_check
):
    job, _backup = failed_check
    url = reverse("release_evidence_pack", args=[job.release_id])

    def pack(role: str) -> dict[str, str]:
        client.force_login(personas[role])
        response = client.get(url)
        assert response.status_code == 200
        archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
        return {n: archive.read(n).decode(errors="replace") for n in archive.namelist()}

    lead = pack("platform_lead")
    assert MARKER in lead[f"jobs/{job.pk}-restore_check.log"]
    assert any(MARKER in text for name, text in lead.items() if name.startswith("backups/"))
    auditor = pack("auditor")
    assert all(MARKER not in text for text in auditor.values())
    assert auditor[f"jobs/{job.pk}-restore_check.log"] == WITHHELD + "\n"
    record = json.loads(auditor[f"jobs/{job.pk}-restore_check.json"])
    assert record["summary"] == "Restore check failed" and record["output_withheld"] == WITHHELD
