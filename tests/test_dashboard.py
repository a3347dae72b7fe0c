import pytest
from django.urls import reverse

from tests.html import inline_code

ROLES = ["platform_lead", "release_engineer", "qa_lead", "sre", "auditor"]


@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_the_dashboard_with_its_role(client, personas, role):
    client.force_login(personas[role])
    response = client.get(reverse("dashboard"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Ibimina" in html
    label = {
        "platform_lead": "Platform lead",
        "release_engineer": "Release engineer",
        "qa_lead": "QA lead",
        "sre": "SRE / on-call",
        "auditor": "Auditor",
    }[role]
    assert label in html


def test_the_dashboard_says_how_to_start_without_projects(client, django_user_model):
    user = django_user_model.objects.create_user("newcomer", password="x-very-long-pass")
    client.force_login(user)
    html = client.get(reverse("dashboard")).content.decode()
    assert "Nothing here yet" in html
    assert "Members" in html


def test_an_operator_without_projects_is_shown_where_to_start_one(client, django_user_model):
    """What a fresh operator saw: "ask your platform lead to invite you", with the page that
    creates a project only inside the menu under their name."""
    operator = django_user_model.objects.create_superuser("ops", password="x-very-long-pass")
    newcomer = django_user_model.objects.create_user("newcomer", password="x-very-long-pass")
    client.force_login(operator)
    main = client.get(reverse("dashboard")).content.decode().split("<main", 1)[1]
    assert f'href="{reverse("operator_project_new")}"' in main
    client.force_login(newcomer)
    main = client.get(reverse("dashboard")).content.decode().split("<main", 1)[1]
    assert reverse("operator_project_new") not in main


def test_another_projects_member_does_not_see_this_project(client, personas):
    client.force_login(personas["outsider"])
    html = client.get(reverse("dashboard")).content.decode()
    assert "Ibimina" not in html
    assert "Other team" in html


def test_the_shell_carries_csrf_for_htmx_and_no_cdn(client, qa_lead):
    client.force_login(qa_lead)
    html = client.get(reverse("dashboard")).content.decode()
    assert 'hx-headers=\'{"X-CSRFToken": "' in html
    assert "/static/django_htmx/htmx-2.min.js" in html
    assert "unpkg" not in html and "cdn" not in html.lower()
    assert '"includeIndicatorStyles": false' in html


@pytest.mark.parametrize("url_name", ["dashboard", "login", "password_reset"])
def test_pages_send_a_strict_csp_and_have_no_inline_code(client, qa_lead, url_name):
    if url_name == "dashboard":
        client.force_login(qa_lead)
    response = client.get(reverse(url_name))
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert "script-src 'self' 'nonce-" in csp
    assert "default-src 'self'" in csp
    assert inline_code(response.content.decode()) == []


def test_scripts_carry_the_responses_nonce(client, qa_lead):
    client.force_login(qa_lead)
    response = client.get(reverse("dashboard"))
    nonce = response["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
    assert f'nonce="{nonce}"' in response.content.decode()


def test_the_inline_finder_can_fail():
    assert inline_code('<div style="color:red" onclick="x()"><script>1</script></div>') == [
        "style= attribute on <div>",
        "onclick= handler on <div>",
        "inline <script>",
    ]


def test_the_dashboard_lists_releases_and_what_awaits_the_qa_lead(client, personas, project):
    from checklists.services.releases import release_create
    from tests.factories import published_runbook

    published_runbook(project)
    release_create(
        project=project,
        title="Members",
        owner=personas["platform_lead"],
        commit_sha="a" * 40,
        created_by=personas["release_engineer"],
    )
    client.force_login(personas["qa_lead"])
    html = client.get(reverse("dashboard")).content.decode()
    assert "Members" in html
    assert "RLS Docker test suite passed" in html  # a QA-owned item waits
    assert "Confirm `supabase/migrations` order" not in html  # the release engineer's


def test_the_release_owner_is_asked_to_sign_a_ready_release(client, personas, project):
    from django.db import transaction

    from checklists.models import ChecklistItem
    from checklists.services.releases import release_create
    from checklists.services.state import release_refresh
    from tests.factories import published_runbook

    published_runbook(project)
    release = release_create(
        project=project,
        title="Ready one",
        owner=personas["platform_lead"],
        commit_sha="a" * 40,
        created_by=personas["release_engineer"],
    )
    ChecklistItem.objects.filter(release=release, step__is_signoff=False).update(state="done")
    with transaction.atomic():
        release_refresh(release=release, actor=None, reason="test")
    client.force_login(personas["platform_lead"])
    html = client.get(reverse("dashboard")).content.decode()
    assert "ready for your sign-off" in html


def test_waiting_items_read_as_text_without_markdown(client, personas, project):
    """What the SRE saw under "Waiting for you": "Rollback commands prepared (timestamp
    verified, `migration down` or ...", the runbook's Markdown backticks as typed."""
    from checklists.services.releases import release_create
    from tests.factories import published_runbook

    published_runbook(project)
    release_create(project=project, title="Members", owner=personas["platform_lead"],
                   commit_sha="a" * 40, created_by=personas["release_engineer"])  # fmt: skip
    client.force_login(personas["sre"])
    html = client.get(reverse("dashboard")).content.decode()
    waiting = html.split('id="awaiting-h"', 1)[1].split("</section>", 1)[0]
    assert "Rollback commands prepared (timestamp verified, migration down or" in waiting
    assert "`" not in waiting
