"""The bad-input corpus: hostile text through every entry point that takes text.

Each input is sent where people (or CI) type: release titles, comments and reasons,
incident titles and notes, freeze window reasons, invitation emails, runbook uploads,
migration file names inside archives, API bodies. Whatever happens (stored, or refused
with a message), nothing answers 500, and wherever the text is shown again it is
escaped: no script tag, event handler or markup of ours survives.
"""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from checklists.models import Release
from checklists.services.migrations import release_upload_archive
from checklists.services.releases import release_create
from tests.factories import DEMO_MIGRATIONS, published_runbook, supabase_archive
from tests.html import inline_code

SCRIPT = "<script>window.__pwned=1</script>"
HOSTILE = [
    SCRIPT,
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(1)",
    "{{ settings.SECRET_KEY }}{% debug %}",
    "'; DROP TABLE checklists_release; --",
    "\u202etxt.exe\u202c right-to-left override",
    "Zalgo: Z\u0351\u0358a\u0351l\u0337g\u0335o\u0334",
    "emoji 🚀🔥 and CJK 数据库迁移",
    "nul\x00byte",
    "x" * 10_000,
]
IDS = ["script", "attribute", "js-url", "template", "sql", "rtl", "zalgo", "unicode", "nul", "long"]


def assert_safe(html: str) -> None:
    assert SCRIPT not in html
    assert "onerror=alert(1)>" not in html
    assert inline_code(html) == []


@pytest.fixture
def release(project, personas):
    published_runbook(project)
    release = release_create(
        project=project,
        title="Hostile",
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


@pytest.mark.parametrize("text", HOSTILE, ids=IDS)
def test_release_titles(client, personas, project, text):
    published_runbook(project)
    client.force_login(personas["release_engineer"])
    response = client.post(
        reverse("release_new"),
        {
            "project": project.pk,
            "title": text,
            "owner": personas["platform_lead"].pk,
            "commit_sha": "b" * 40,
        },
    )
    assert response.status_code in (302, 400)
    for url in [reverse("release_list"), reverse("dashboard"), reverse("audit_log")]:
        assert_safe(client.get(url).content.decode())
    release = Release.objects.filter(project=project).first()
    if release is not None:
        page = client.get(reverse("release_detail", kwargs={"pk": release.pk}))
        assert page.status_code == 200
        assert_safe(page.content.decode())
        report = client.get(reverse("release_report", kwargs={"pk": release.pk}))
        assert report.status_code == 200


@pytest.mark.parametrize("text", HOSTILE, ids=IDS)
def test_item_comments_and_reasons(client, personas, release, text):
    client.force_login(personas["release_engineer"])
    item = release.items.get(step__key="run-pnpm-lint-typecheck-test")
    url = reverse("item_not_applicable", kwargs={"pk": release.pk, "item_pk": item.pk})
    response = client.post(
        url, {"revision": item.revision, "reason": text}, headers={"HX-Request": "true"}
    )
    # Accepted (200), or refused with the item and its error (a 422 fragment, e.g. NUL).
    assert response.status_code in (200, 422)
    if response.status_code == 422:
        assert response["X-Portal-Fragment"] == "1" and 'role="alert"' in response.content.decode()
    assert_safe(response.content.decode())
    assert_safe(client.get(reverse("release_detail", kwargs={"pk": release.pk})).content.decode())
    assert_safe(client.get(reverse("audit_log")).content.decode())


@pytest.mark.parametrize("text", HOSTILE, ids=IDS)
def test_incident_titles_and_notes(client, personas, release, text):
    from migrations_ops.models import Incident, Target

    target = Target.objects.create(
        project=release.project,
        name="production",
        kind="production",
        url_env_var="HOSTILE_PRODUCTION_URL",
    )
    client.force_login(personas["sre"])
    response = client.post(
        reverse("incident_new", kwargs={"pk": release.pk}),
        {
            "target": target.pk,
            "title": text,
            "trigger": Incident.Trigger.choices[0][0],
            "error_text": text,
        },
    )
    assert response.status_code in (302, 400)
    incident = Incident.objects.first()
    if incident is not None:
        note = reverse("incident_action", kwargs={"pk": incident.pk, "action": "note"})
        assert client.post(note, {"text": text}).status_code in (302, 400)
        page = client.get(reverse("incident_detail", kwargs={"pk": incident.pk}))
        assert page.status_code == 200
        assert_safe(page.content.decode())
    assert_safe(client.get(reverse("incident_list")).content.decode())


@pytest.mark.parametrize("text", HOSTILE, ids=IDS)
def test_freeze_window_reasons_and_invitations(client, personas, project, text):
    client.force_login(personas["platform_lead"])
    response = client.post(
        reverse("freeze_windows", kwargs={"slug": project.slug}),
        {
            "starts_at": "2031-01-01T00:00",
            "ends_at": "2031-01-02T00:00",
            "reason": text,
        },
    )
    assert response.status_code in (200, 302, 400)
    assert_safe(
        client.get(reverse("freeze_windows", kwargs={"slug": project.slug})).content.decode()
    )
    invite = client.post(
        reverse("project_members", kwargs={"slug": project.slug}), {"email": text, "role": "sre"}
    )
    assert invite.status_code in (302, 400)
    assert_safe(invite.content.decode())


@pytest.mark.parametrize("text", HOSTILE, ids=IDS)
def test_runbook_uploads(client, personas, project, text):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(personas["platform_lead"])
    source = (
        f"# Runbook {text}\n\n## Checks\n\n- [ ] Check {text}\n"
        "- [ ] Release owner sign-off: `@<name>`\n"
    )
    upload = SimpleUploadedFile("runbook.md", source.encode("utf-8", "surrogatepass"))
    response = client.post(
        reverse("runbook_upload", kwargs={"slug": project.slug}), {"file": upload}
    )
    assert response.status_code in (200, 302, 400)
    if response.status_code == 302:
        page = client.get(response["Location"])
        assert page.status_code == 200
        assert_safe(page.content.decode())


@pytest.mark.parametrize(
    "name",
    [
        "20250103000000_<script>alert(1)</script>.sql",
        "20250103000000_" + "a" * 200 + ".sql",
        "20250103000000_数据库.sql",
        "20250103000000_\u202egpj.sql",
        "20250103000000_semi;colon&amp.sql",
    ],
)
def test_migration_file_names_in_archives(client, personas, release, name):
    files = dict(DEMO_MIGRATIONS)
    files[f"migrations/{name}"] = "select 1;\n"
    client.force_login(personas["release_engineer"])
    from django.core.files.uploadedfile import SimpleUploadedFile

    archive = SimpleUploadedFile("s.zip", supabase_archive(files))
    response = client.post(
        reverse("release_migrations", kwargs={"pk": release.pk}), {"archive": archive}, follow=True
    )
    assert response.status_code == 200
    assert_safe(response.content.decode())


@pytest.mark.parametrize("text", HOSTILE, ids=IDS)
def test_api_bodies(client, personas, release, text):
    from release_portal.api.tokens import token_create

    token = token_create(
        project=release.project,
        name="hostile",
        scopes=["read", "report"],
        user=personas["platform_lead"],
    ).value
    headers = {"Authorization": f"Bearer {token}"}
    bodies = [
        (
            f"/api/projects/{release.project.slug}/releases",
            {"title": text, "commit_sha": "c" * 40, "owner": "lead"},
        ),
        (
            f"/api/releases/{release.pk}/evidence",
            {
                "step": "ci:staging_apply",
                "kind": "ci_run",
                "status": "passed",
                "run_url": text,
                "commit_sha": release.commit_sha,
            },
        ),
        (
            f"/api/releases/{release.pk}/evidence",
            {"step": "ci:secrets", "kind": "secrets", "names": [text]},
        ),
        (
            f"/api/releases/{release.pk}/pull-request",
            {
                "url": text,
                "approvals": 1,
                "template_checklist_complete": True,
                "commit_sha": release.commit_sha,
            },
        ),
    ]
    for path, body in bodies:
        response = client.post(
            path, data=json.dumps(body), content_type="application/json", headers=headers
        )
        assert response.status_code < 500, (path, response.status_code)
        assert response["Content-Type"].startswith("application/json")
        # A refusal never echoes the hostile input back.
        if response.status_code >= 400:
            assert SCRIPT not in response.content.decode()
    client.force_login(personas["auditor"])
    assert_safe(client.get(reverse("release_detail", kwargs={"pk": release.pk})).content.decode())
    assert_safe(client.get(reverse("audit_log")).content.decode())
