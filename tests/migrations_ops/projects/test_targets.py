"""Targets on the settings page: names of URL variables, never values; test connection."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.test import Client
from django.urls import reverse

from migrations_ops.models import Job, Target
from migrations_ops.pg import pgtools
from release_portal.audit.models import AuditEvent
from tests.factories import TargetFactory

ENV = "RP_SETTINGS_TEST_STAGING_URL"
PASSWORD = "s3cr3t-Pa55word"
NOT_LEADS = ["release_engineer", "qa_lead", "sre", "auditor"]


def url(name, project, target=None):
    args = [project.slug] + ([target.pk] if target else [])
    return reverse(name, args=args)


@pytest.fixture
def staging(project):
    return TargetFactory(project=project, name="staging", url_env_var=ENV)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_password(server_url: str) -> str:
    parts = urlsplit(server_url)
    user = parts.username or "postgres"
    host = parts.hostname or "127.0.0.1"
    return urlunsplit(parts._replace(netloc=f"{user}:{PASSWORD}@{host}:{parts.port or 5432}"))


def test_a_lead_adds_a_target_by_the_name_of_its_url_variable(client, personas, project):
    client.force_login(personas["platform_lead"])
    response = client.post(
        url("target_new", project),
        {"name": "production", "kind": "production", "url_env_var": "PROD_DATABASE_URL"},
    )
    assert response.status_code == 302
    target = Target.objects.get(project=project)
    assert (target.name, target.kind, target.url_env_var) == (
        "production",
        "production",
        "PROD_DATABASE_URL",
    )
    event = AuditEvent.objects.get(action="target.create")
    assert event.data == {
        "name": "production",
        "kind": "production",
        "url_env_var": "PROD_DATABASE_URL",
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("postgresql://app:hunter2@db.example.com/postgres", "That looks like a URL"),
        ("staging-url", "not an environment variable name"),
        ("1STAGING", "not an environment variable name"),
    ],
)
def test_it_refuses_anything_but_an_environment_variable_name(
    client, personas, project, value, message
):
    client.force_login(personas["platform_lead"])
    response = client.post(
        url("target_new", project), {"name": "staging", "kind": "staging", "url_env_var": value}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert "hunter2" not in html  # a pasted URL is not echoed back
    assert not Target.objects.exists()


def test_it_refuses_a_second_target_with_the_same_name(client, personas, project, staging):
    client.force_login(personas["platform_lead"])
    response = client.post(
        url("target_new", project), {"name": "staging", "kind": "other", "url_env_var": "OTHER"}
    )
    assert response.status_code == 400
    assert "already has a target named staging" in response.content.decode()


def test_a_lead_edits_and_removes_a_target(client, personas, project, staging):
    client.force_login(personas["platform_lead"])
    response = client.post(
        url("target_edit", project, staging),
        {"name": "staging", "kind": "staging", "url_env_var": "STAGING_DB_URL"},
    )
    assert response.status_code == 302
    staging.refresh_from_db()
    assert staging.url_env_var == "STAGING_DB_URL"
    changed = AuditEvent.objects.get(action="target.update").data["changed"]
    assert changed == {"url_env_var": {"before": ENV, "after": "STAGING_DB_URL"}}
    assert client.post(url("target_remove", project, staging)).status_code == 302
    assert not Target.objects.exists()
    assert AuditEvent.objects.filter(action="target.delete").count() == 1


def test_a_target_with_jobs_is_kept(client, personas, project, staging):
    Job.objects.create(project=project, target=staging, kind="order")
    client.force_login(personas["platform_lead"])
    response = client.post(url("target_remove", project, staging), follow=True)
    assert "has jobs in its history" in response.content.decode()
    assert Target.objects.filter(pk=staging.pk).exists()


@pytest.mark.parametrize("role", NOT_LEADS)
def test_other_roles_may_not_touch_targets(client, personas, project, staging, role):
    client.force_login(personas[role])
    data = {"name": "x", "kind": "other", "url_env_var": "X"}
    assert client.post(url("target_new", project), data).status_code == 403
    assert client.post(url("target_edit", project, staging), data).status_code == 403
    assert client.post(url("target_remove", project, staging)).status_code == 403
    assert client.post(url("target_test", project, staging)).status_code == 403
    assert list(Target.objects.values_list("name", flat=True)) == ["staging"]


def test_another_projects_lead_gets_404_for_targets(client, personas, project, staging):
    client.force_login(personas["outsider"])
    assert client.post(url("target_test", project, staging)).status_code == 404
    assert client.post(url("target_remove", project, staging)).status_code == 404
    assert Target.objects.filter(pk=staging.pk).exists()


def test_a_lead_cannot_reach_another_projects_target_through_their_own(
    client, personas, other_project, staging
):
    client.force_login(personas["outsider"])
    assert client.post(url("target_remove", other_project, staging)).status_code == 404
    assert client.post(url("target_test", other_project, staging)).status_code == 404
    assert Target.objects.filter(pk=staging.pk).exists()


def test_test_connection_shows_why_it_failed_without_the_password(
    client, personas, project, staging, monkeypatch
):
    port = closed_port()
    monkeypatch.setenv(ENV, f"postgresql://app:{PASSWORD}@127.0.0.1:{port}/postgres")
    client.force_login(personas["platform_lead"])
    response = client.post(url("target_test", project, staging), headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert f"could not connect to staging (127.0.0.1:{port})" in html
    assert 'data-ok="false"' in html and "<html" not in html
    assert PASSWORD not in html
    event = AuditEvent.objects.get(action="target.test_connection")
    assert event.data == {"ok": False, "url_env_var": ENV}
    assert PASSWORD not in str(event.data)


def test_test_connection_shows_the_server_version(client, personas, project, staging, monkeypatch):
    monkeypatch.setenv(ENV, with_password(pgtools.portal_server_url()))
    client.force_login(personas["platform_lead"])
    response = client.post(url("target_test", project, staging), headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "Connected to staging (" in html and "PostgreSQL " in html
    assert 'data-ok="true"' in html
    assert PASSWORD not in html


def test_test_connection_works_without_javascript(client, personas, project, staging, monkeypatch):
    monkeypatch.setenv(ENV, with_password(pgtools.portal_server_url()))
    client.force_login(personas["platform_lead"])
    response = client.post(url("target_test", project, staging))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html and "Connected to staging (" in html
    assert PASSWORD not in html


def test_test_connection_says_when_the_variable_is_not_set(
    client, personas, project, staging, monkeypatch
):
    monkeypatch.delenv(ENV, raising=False)
    client.force_login(personas["platform_lead"])
    html = client.post(url("target_test", project, staging)).content.decode()
    assert f"no database URL for staging: set {ENV} where the portal and its workers run" in html
    assert f"{ENV} is not set here" in html


def test_the_page_never_shows_a_targets_url(client, personas, project, staging, monkeypatch):
    monkeypatch.setenv(ENV, f"postgresql://app:{PASSWORD}@db.internal:5432/postgres")
    client.force_login(personas["platform_lead"])
    html = client.get(url("project_settings", project)).content.decode()
    assert ENV in html and f"{ENV} is set" in html
    assert PASSWORD not in html and "db.internal" not in html


def test_test_connection_needs_the_csrf_token_htmx_sends(personas, project, staging, monkeypatch):
    monkeypatch.setenv(ENV, with_password(pgtools.portal_server_url()))
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(personas["platform_lead"])
    page = browser.get(url("project_settings", project)).content.decode()
    assert 'hx-headers=\'{"X-CSRFToken": "' in page  # base.html gives htmx the token
    test_url = url("target_test", project, staging)
    assert f'hx-post="{test_url}"' in page and f'action="{test_url}"' in page
    assert browser.post(test_url, headers={"HX-Request": "true"}).status_code == 403
    token = browser.cookies["csrftoken"].value
    response = browser.post(test_url, headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 200
    assert 'data-ok="true"' in response.content.decode()
