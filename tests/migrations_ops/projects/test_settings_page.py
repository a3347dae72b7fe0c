"""The project settings page: platform leads edit, others are refused, names are audited."""

from __future__ import annotations

import pytest
from django.urls import reverse

from release_portal.audit.models import AuditEvent
from tests.html import inline_code

NOT_LEADS = ["release_engineer", "qa_lead", "sre", "auditor"]


def settings_url(project):
    return reverse("project_settings", args=[project.slug])


def valid(**overrides):
    data = {
        "migrations_source": "git",
        "repo_path": "/srv/ibimina",
        "supabase_dir": "supabase",
        "schemas": "app, public",
        "fixture_files": "supabase/tests/fixtures/roles.sql\nsupabase/tests/fixtures/auth.sql",
        "seed_files": "supabase/seed.sql",
        "rollbacks_dir": "supabase/rollbacks",
        "check_commands": (
            "pnpm run lint\npnpm run typecheck\npnpm --filter '@ibimina/admin' run test:rls"
        ),
        "command_env_names": "NODE_ENV, CI",
        "command_timeout_seconds": "900",
        "required_secret_names": "SUPABASE_ACCESS_TOKEN\nSUPABASE_STAGING_PROJECT_REF",
        "dry_run_data_max_mb": "25",
        "require_qa_signoff": "on",
        "uploader_may_not_sign": "on",
        "backup_max_age_hours": "24",
        "break_glass_needs_second_lead": "on",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_a_platform_lead_sees_the_current_settings(client, personas, project):
    client.force_login(personas["platform_lead"])
    response = client.get(settings_url(project))
    assert response.status_code == 200
    html = response.content.decode()
    assert "pnpm run test:auth" in html  # the default check commands, one per line
    assert "SUPABASE_ACCESS_TOKEN" in html
    assert inline_code(html) == []


@pytest.mark.parametrize("role", NOT_LEADS)
def test_other_roles_get_403(client, personas, project, role):
    client.force_login(personas[role])
    assert client.get(settings_url(project)).status_code == 403
    assert client.post(settings_url(project), valid()).status_code == 403
    project.refresh_from_db()
    assert project.repo_path == ""


def test_another_projects_lead_gets_404(client, personas, project):
    client.force_login(personas["outsider"])
    assert client.get(settings_url(project)).status_code == 404
    assert client.post(settings_url(project), valid()).status_code == 404


def test_a_lead_saves_the_settings_and_they_are_audited(client, personas, project):
    client.force_login(personas["platform_lead"])
    response = client.post(settings_url(project), valid())
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.migrations_source == "git" and project.repo_path == "/srv/ibimina"
    assert project.schemas == ["app", "public"]
    assert project.fixture_files == [
        "supabase/tests/fixtures/roles.sql",
        "supabase/tests/fixtures/auth.sql",
    ]
    assert project.check_commands == [
        ["pnpm", "run", "lint"],
        ["pnpm", "run", "typecheck"],
        ["pnpm", "--filter", "@ibimina/admin", "run", "test:rls"],
    ]
    assert project.command_env_names == ["NODE_ENV", "CI"]
    assert project.command_timeout_seconds == 900
    assert project.required_secret_names == [
        "SUPABASE_ACCESS_TOKEN",
        "SUPABASE_STAGING_PROJECT_REF",
    ]
    assert (project.require_qa_signoff, project.require_sre_signoff) == (True, False)
    assert project.uploader_may_not_sign is True
    event = AuditEvent.objects.get(action="project.settings_update")
    changed = event.data["changed"]
    assert changed["repo_path"] == {"before": "", "after": "/srv/ibimina"}
    assert changed["required_secret_names"]["after"] == [
        "SUPABASE_ACCESS_TOKEN",
        "SUPABASE_STAGING_PROJECT_REF",
    ]
    assert "schemas" not in changed  # unchanged fields are not recorded


def test_the_four_eyes_settings_are_on_by_default_and_turning_them_off_is_audited(
    client, personas, project
):
    assert project.uploader_may_not_sign and project.break_glass_needs_second_lead
    client.force_login(personas["platform_lead"])
    page = client.get(settings_url(project)).content.decode()
    assert "Break-glass needs a second platform lead" in page
    response = client.post(
        settings_url(project),
        valid(uploader_may_not_sign=None, break_glass_needs_second_lead=None),
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert not project.uploader_may_not_sign and not project.break_glass_needs_second_lead
    changed = AuditEvent.objects.get(action="project.settings_update").data["changed"]
    assert changed["break_glass_needs_second_lead"] == {"before": True, "after": False}
    assert changed["uploader_may_not_sign"] == {"before": True, "after": False}


def test_saving_unchanged_settings_writes_nothing(client, personas, project):
    client.force_login(personas["platform_lead"])
    client.post(settings_url(project), valid())
    client.post(settings_url(project), valid())
    assert AuditEvent.objects.filter(action="project.settings_update").count() == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("check_commands", "pnpm run lint; rm -rf /", "“;” is a shell metacharacter"),
        ("check_commands", "pnpm run lint | tee out", "“|” is a shell metacharacter"),
        ("check_commands", "pnpm run test && echo ok", "“&amp;” is a shell metacharacter"),
        ("check_commands", "echo $HOME", "“$” is a shell metacharacter"),
        ("check_commands", "echo `id`", "“`” is a shell metacharacter"),
        ("check_commands", "pnpm run 'lint", "No closing quotation"),
        ("required_secret_names", "SUPABASE_ACCESS_TOKEN\nghp_abc123secret", "“ghp_abc123secret”"),
        ("command_env_names", "node-env", "not an environment variable name"),
        ("schemas", "app; drop", "is not a schema name"),
        ("fixture_files", "../../etc/passwd", "no leading /, ~ or .."),
        ("supabase_dir", "/abs/supabase", "no leading /, ~ or .."),
        ("repo_path", "", "The git source needs the checkout"),
        ("command_timeout_seconds", "1", "greater than or equal to 10"),
        ("maintenance_webhook_url", "http://169.254.169.254/latest/", "cloud metadata address"),
        ("maintenance_webhook_url", "http://[2002:a00:1::]/x", "6to4"),
        ("maintenance_webhook_url", "http://example.com:0/x", "port 0"),
    ],
)
def test_it_refuses_invalid_settings_with_a_clear_message(
    client, personas, project, field, value, message
):
    client.force_login(personas["platform_lead"])
    response = client.post(settings_url(project), valid(**{field: value}))
    assert response.status_code == 400
    assert message in response.content.decode()
    project.refresh_from_db()
    assert project.repo_path == ""
    assert not AuditEvent.objects.filter(action="project.settings_update").exists()
