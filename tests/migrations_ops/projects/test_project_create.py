"""Onboarding a team: a project and its first platform lead, from a shell or the
operators' page (superusers only)."""

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import CommandError, call_command
from django.urls import reverse

from checklists.runbooks.selectors import latest_published_version
from migrations_ops.models import Project
from release_portal.accounts.roles import Action, Role, can
from release_portal.audit.models import AuditEvent
from tests.factories import UserFactory


@pytest.mark.django_db
def test_the_command_creates_the_project_invites_the_lead_and_prints_the_link(
    settings, django_capture_on_commit_callbacks
):
    settings.PORTAL_TARGET_VARS = {"demo": ["DEMO_STAGING_DATABASE_URL"]}
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command(
            "project_create", "--name", "Shop", "--slug", "shop",
            "--lead-email", "ana@example.com", "--base-url", "https://releases.example.com/",
            stdout=out,
        )  # fmt: skip
    text = out.getvalue()
    project = Project.objects.get(slug="shop")
    lead = get_user_model().objects.get(email="ana@example.com")
    assert can(lead, Action.MANAGE_MEMBERS, project)
    assert lead.memberships.get().role == Role.PLATFORM_LEAD
    assert "Created the project Shop (shop)." in text
    link = next(line for line in text.splitlines() if line.startswith("Invitation link"))
    assert "https://releases.example.com/accounts/reset/" in link
    assert mail.outbox[0].to == ["ana@example.com"]
    assert link.rsplit(" ", 1)[1] in mail.outbox[0].body
    # The targets reminder names the variable the operator must allow for it.
    assert "PORTAL_TARGET_VARS lists nothing for shop" in text
    assert "'shop:SHOP_STAGING_DATABASE_URL,SHOP_PRODUCTION_DATABASE_URL'" in text
    assert latest_published_version(project) is not None  # releases can start
    event = AuditEvent.objects.get(action="project.create")
    assert event.actor_name == "operator (manage.py project_create)"
    assert event.data == {"name": "Shop", "slug": "shop", "lead": "ana@example.com"}


@pytest.mark.django_db
def test_without_base_url_the_link_is_the_portals_public_address(
    settings, django_capture_on_commit_callbacks
):
    """What the operator saw: with PORTAL_BASE_URL set, the link printed and mailed to the
    lead still pointed at http://127.0.0.1:8000/, which the lead cannot open."""
    settings.PORTAL_BASE_URL = "https://releases.example.com"
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("project_create", "--name", "Shop", "--slug", "shop",
                     "--lead-email", "ana@example.com", stdout=out)  # fmt: skip
    link = next(line for line in out.getvalue().splitlines() if line.startswith("Invitation"))
    assert "https://releases.example.com/accounts/reset/" in link
    assert "https://releases.example.com/accounts/reset/" in mail.outbox[0].body
    assert "127.0.0.1" not in out.getvalue() + mail.outbox[0].body
    assert "Note:" not in out.getvalue()


@pytest.mark.django_db
def test_without_any_address_it_says_where_the_link_points(settings, monkeypatch):
    settings.PORTAL_BASE_URL = ""
    monkeypatch.setenv("PORT", "8123")
    out = StringIO()
    call_command("project_create", "--name", "Shop", "--slug", "shop",
                 "--lead-email", "ana@example.com", stdout=out)  # fmt: skip
    text = out.getvalue()
    assert "http://127.0.0.1:8123/accounts/reset/" in text
    assert "neither --base-url nor PORTAL_BASE_URL is set" in text


@pytest.mark.django_db
def test_a_taken_slug_or_a_bad_email_leaves_nothing_behind(project):
    with pytest.raises(CommandError, match="exists already"):
        call_command("project_create", "--name", "X", "--slug", project.slug,
                     "--lead-email", "x@example.com", stdout=StringIO())  # fmt: skip
    with pytest.raises(CommandError, match="valid email"):
        call_command("project_create", "--name", "X", "--slug", "newone",
                     "--lead-email", "not-an-email", stdout=StringIO())  # fmt: skip
    assert not Project.objects.filter(slug="newone").exists()
    assert not get_user_model().objects.filter(email="x@example.com").exists()
    assert not AuditEvent.objects.filter(action="project.create").exists()


@pytest.fixture
def operator(db):
    return UserFactory(username="ops", is_superuser=True, is_staff=True)


def test_an_operator_creates_a_project_on_the_page(
    client, operator, django_capture_on_commit_callbacks
):
    client.force_login(operator)
    url = reverse("operator_project_new")
    assert client.get(url).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url, {"name": "Shop", "slug": "shop", "lead_email": "ana@example.com"}
        )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Shop is ready" in html
    assert 'id="invite-link"' in html and "/accounts/reset/" in html
    assert "PORTAL_TARGET_VARS" in html
    project = Project.objects.get(slug="shop")
    assert AuditEvent.objects.get(action="project.create").actor_name == "ops"
    assert project.memberships.get().user.email == "ana@example.com"
    # Again with the same slug: a form error, nothing else made.
    response = client.post(url, {"name": "Shop 2", "slug": "shop", "lead_email": "b@example.com"})
    assert response.status_code == 400
    assert "exists already" in response.content.decode()
    assert Project.objects.filter(slug="shop").count() == 1


def test_only_superusers_reach_the_operators_page(client, personas):
    url = reverse("operator_project_new")
    assert client.get(url).status_code == 302  # to the login page
    for persona in ("platform_lead", "auditor", "outsider"):
        client.force_login(personas[persona])
        assert client.get(url).status_code == 403
        response = client.post(url, {"name": "S", "slug": "s", "lead_email": "s@example.com"})
        assert response.status_code == 403
    assert not Project.objects.filter(slug="s").exists()


def test_the_menu_offers_the_operators_page_and_the_admin_to_superusers_only(
    client, operator, platform_lead
):
    client.force_login(operator)
    html = client.get(reverse("dashboard")).content.decode()
    assert f'href="{reverse("operator_project_new")}"' in html
    assert 'href="/admin/"' in html
    client.force_login(platform_lead)
    html = client.get(reverse("dashboard")).content.decode()
    assert reverse("operator_project_new") not in html and 'href="/admin/"' not in html


def test_the_operators_page_links_nowhere_they_cannot_go_and_starts_the_next_one_blank(
    client, operator
):
    """What the operator saw: "Members of Shop" led to a 404 (an operator is no member of
    the project); a taken slug said so twice; after creating, the form still held the
    project just made."""
    client.force_login(operator)
    url = reverse("operator_project_new")
    response = client.post(url, {"name": "Shop", "slug": "shop", "lead_email": "a@example.com"})
    html = response.content.decode()
    project = Project.objects.get(slug="shop")
    for href in re.findall(r'href="([^"]+)"', html):
        if href.startswith("/") and not href.startswith("/static/"):
            assert client.get(href).status_code == 200, href
    assert reverse("admin:migrations_ops_project_change", args=[project.pk]) in html
    assert 'value="shop"' not in html and 'value="a@example.com"' not in html
    response = client.post(url, {"name": "Shop", "slug": "shop", "lead_email": "b@example.com"})
    assert response.content.decode().count("exists already") == 1
