"""Runbook list, upload and version pages: who sees what, who may act."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from checklists.models import RunbookVersion
from checklists.runbooks.services import runbook_import
from tests.html import inline_code

READERS = ["platform_lead", "release_engineer", "qa_lead", "sre", "auditor"]
NOT_LEADS = ["release_engineer", "qa_lead", "sre", "auditor"]


def detail_url(version):
    return reverse("runbook_detail", args=[version.project.slug, version.number])


def upload_url(project):
    return reverse("runbook_upload", args=[project.slug])


def upload(client, project, content: bytes, name="runbook.md"):
    return client.post(upload_url(project), {"file": SimpleUploadedFile(name, content)})


@pytest.mark.parametrize("role", READERS)
def test_it_lists_the_projects_runbooks_for_every_member(client, personas, draft, role):
    client.force_login(personas[role])
    response = client.get(reverse("runbook_list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert detail_url(draft) in html
    assert "Database Migration Runbook" in html
    assert 'href="/runbooks/"' in html  # the shell's nav shows "Runbooks"
    assert (upload_url(draft.project) in html) == (role == "platform_lead")
    settings_url = reverse("project_settings", args=[draft.project.slug])
    assert (settings_url in html) == (role == "platform_lead")
    assert inline_code(html) == []


def test_it_lists_only_the_users_projects(client, personas, draft, other_project):
    theirs = runbook_import(project=other_project, source_bytes=b"# Theirs\n\n- [ ] x\n", user=None)
    client.force_login(personas["outsider"])
    html = client.get(reverse("runbook_list")).content.decode()
    assert detail_url(theirs) in html
    assert detail_url(draft) not in html
    assert client.get(reverse("runbook_list") + "?project=ibimina").status_code == 404


def test_it_filters_the_list_by_project(client, personas, draft, other_project):
    personas["platform_lead"].memberships.create(project=other_project, role="auditor")
    theirs = runbook_import(project=other_project, source_bytes=b"# Theirs\n\n- [ ] x\n", user=None)
    client.force_login(personas["platform_lead"])
    html = client.get(reverse("runbook_list") + "?project=other-team").content.decode()
    assert detail_url(theirs) in html
    assert detail_url(draft) not in html


def test_the_list_page_runs_a_fixed_number_of_queries(
    client, personas, project, django_assert_max_num_queries
):
    for _ in range(4):
        runbook_import(project=project, source_bytes=b"# R\n\n- [ ] x\n", user=None)
    client.force_login(personas["platform_lead"])
    # session, user, roles, projects, versions (+ annotate), nav's projects: not per row.
    with django_assert_max_num_queries(8):
        assert client.get(reverse("runbook_list")).status_code == 200


def test_a_platform_lead_uploads_a_runbook(client, personas, project, runbook_v1_bytes):
    client.force_login(personas["platform_lead"])
    assert client.get(upload_url(project)).status_code == 200
    response = upload(client, project, runbook_v1_bytes)
    version = RunbookVersion.objects.get(project=project)
    assert response.status_code == 302
    assert response["Location"] == detail_url(version)
    assert version.steps.count() == 13


@pytest.mark.parametrize("role", NOT_LEADS)
def test_other_roles_may_not_upload(client, personas, project, runbook_v1_bytes, role):
    client.force_login(personas[role])
    assert client.get(upload_url(project)).status_code == 403
    assert upload(client, project, runbook_v1_bytes).status_code == 403
    assert not RunbookVersion.objects.exists()


def test_another_projects_lead_gets_404(client, personas, draft, runbook_v1_bytes):
    client.force_login(personas["outsider"])
    assert client.get(upload_url(draft.project)).status_code == 404
    assert upload(client, draft.project, runbook_v1_bytes).status_code == 404
    assert client.get(detail_url(draft)).status_code == 404
    assert RunbookVersion.objects.count() == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The submitted file is empty"),
        (b"# Title\n\nNo steps.\n", "No checklist found"),
        (b"# T\n\n- [ ] \xff\xfe\n", "not UTF-8 text"),
    ],
)
def test_a_bad_upload_shows_what_is_wrong(client, personas, project, content, message):
    client.force_login(personas["platform_lead"])
    response = upload(client, project, content)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not RunbookVersion.objects.exists()


def test_an_upload_over_one_megabyte_is_refused(client, personas, project):
    client.force_login(personas["platform_lead"])
    response = upload(client, project, b"# T\n\n- [ ] x\n" + b"a" * (1024 * 1024))
    assert response.status_code == 400
    assert "at most 1,048,576 bytes" in response.content.decode()


@pytest.mark.parametrize("role", READERS)
def test_every_member_reads_a_version(client, personas, draft, role):
    client.force_login(personas[role])
    response = client.get(detail_url(draft))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Release owner sign-off" in html
    assert "First publication of migration runbook and release checklist." in html
    assert "line 44" in html and "line 70" in html and "line 84" in html
    assert "supabase db push --linked --include-all --dry-run" in html
    assert (f"steps/{draft.steps.first().pk}" in html) == (role == "platform_lead")
    assert inline_code(html) == []
