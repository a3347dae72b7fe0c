"""Secret values never reach a page, a log, the change log or an export.

Targets are configured by the NAME of the variable holding their URL; the URL carries a
password. A job against that target fails to connect; the secret names check reads
values it must not repeat. Then every place a person or CI can read is searched.
"""

from __future__ import annotations

import io
import zipfile

import pytest
from django.urls import reverse

from checklists.services.migrations import release_upload_archive
from checklists.services.releases import release_create
from migrations_ops.jobs.engine import job_execute
from migrations_ops.jobs.services import job_enqueue
from migrations_ops.models import JobLogLine, Target
from release_portal.audit.models import AuditEvent
from tests.factories import DEMO_MIGRATIONS, published_runbook, supabase_archive

PASSWORD = "s3cr3t-Pa55w0rd-xyz"
TOKEN_VALUE = "sbp_0123456789abcdef-secret-token"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def release(project, personas, monkeypatch):
    monkeypatch.setenv("SECRET_STAGING_URL", f"postgresql://admin:{PASSWORD}@127.0.0.1:1/app")
    monkeypatch.setenv("SUPABASE_ACCESS_TOKEN", TOKEN_VALUE)
    Target.objects.create(
        project=project, name="staging", kind="staging", url_env_var="SECRET_STAGING_URL"
    )
    project.required_secret_names = ["SUPABASE_ACCESS_TOKEN", "SECRET_STAGING_URL"]
    project.save()
    published_runbook(project)
    release = release_create(
        project=project,
        title="Secrets",
        owner=personas["platform_lead"],
        commit_sha="a" * 40,
        created_by=personas["platform_lead"],
    )
    release_upload_archive(
        release=release,
        data=supabase_archive(DEMO_MIGRATIONS),
        filename="s.zip",
        actor=personas["platform_lead"],
    )
    return release


def run(release, kind, user):
    job = job_enqueue(
        kind=kind,
        project=release.project,
        release=release,
        target=release.project.targets.get(),
        created_by=user,
    )
    return job_execute(job_id=job.pk, worker="t")


def test_no_page_log_or_export_shows_a_secret_value(client, personas, release):
    lead = personas["platform_lead"]
    pending = run(release, "pending", lead)
    assert pending.state == "failed"
    assert "could not connect to staging (127.0.0.1:1)" in pending.summary
    assert run(release, "secrets", lead).state == "succeeded"

    texts = [pending.summary, pending.error, str(pending.result)]
    texts += list(JobLogLine.objects.values_list("text", flat=True))
    texts += [str(e.data) + e.object_repr for e in AuditEvent.objects.all()]
    client.force_login(lead)
    for url in [
        reverse("release_detail", kwargs={"pk": release.pk}),
        reverse("job_detail", kwargs={"pk": pending.pk}),
        reverse("job_log", kwargs={"pk": pending.pk}),
        reverse("project_settings", kwargs={"slug": release.project.slug}),
        reverse("audit_log"),
        reverse("audit_export_csv"),
        reverse("audit_export_jsonl"),
        reverse("release_report", kwargs={"pk": release.pk}),
    ]:
        response = client.get(url)
        assert response.status_code in (200, 286), url
        body = b"".join(response.streaming_content) if response.streaming else response.content
        texts.append(body.decode())
    pack = client.get(reverse("release_evidence_pack", kwargs={"pk": release.pk}))
    body = b"".join(pack.streaming_content) if pack.streaming else pack.content
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        texts += [archive.read(name).decode(errors="replace") for name in archive.namelist()]
    everything = "\n".join(texts)
    assert "SECRET_STAGING_URL" in everything  # the name is shown...
    assert PASSWORD not in everything  # ...never the value
    assert TOKEN_VALUE not in everything
