"""A session that ended while a page was open: the page's own requests (htmx, the release
page's poll and refresh) get a 401 it shows in place, never the sign-in page as their
answer; a navigation still goes to the sign-in page."""

import pytest
from django.test import Client
from django.urls import reverse

from checklists.services.releases import release_create
from tests.factories import PASSWORD, published_runbook


@pytest.fixture
def release(project, personas):
    published_runbook(project)
    return release_create(project=project, title="Members", owner=personas["platform_lead"],
                          commit_sha="a" * 40, created_by=personas["release_engineer"])  # fmt: skip


def signed_out(client: Client, user) -> Client:
    """``client`` after signing in as ``user`` and out again: it keeps its CSRF cookie,
    as the browser tab whose session ended in another tab does."""
    client.force_login(user)
    client.post(reverse("logout"))
    return client


def test_it_answers_an_htmx_tick_with_sign_in_again(client, release, personas):
    item = release.items.first()
    client = signed_out(client, personas["release_engineer"])
    url = reverse("item_tick", kwargs={"pk": release.pk, "item_pk": item.pk})
    response = client.post(url, {"revision": item.revision}, headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response["X-Portal-Signed-Out"] == reverse("login")
    assert "Sign in again" in response.content.decode()
    assert b'name="username"' not in response.content
    item.refresh_from_db()
    assert item.state == "open"


@pytest.mark.parametrize(
    "headers",
    [{"Sec-Fetch-Mode": "cors"}, {"Accept": "application/json"}, {"X-Portal-Refresh": "1"}],
    ids=["fetch", "poll-without-sec-fetch", "refresh"],
)
def test_it_answers_the_pages_poll_and_refresh_with_401(client, release, personas, headers):
    client = signed_out(client, personas["qa_lead"])
    for url in (
        reverse("release_revision", kwargs={"pk": release.pk}),
        reverse("release_detail", kwargs={"pk": release.pk}),
    ):
        response = client.get(url, headers=headers)
        assert response.status_code == 401, url
        assert response["Cache-Control"] == "no-store"


def test_it_still_sends_a_page_visit_to_the_sign_in_page(client, release, personas):
    client = signed_out(client, personas["qa_lead"])
    url = reverse("release_detail", kwargs={"pk": release.pk})
    response = client.get(url, headers={"Sec-Fetch-Mode": "navigate"})
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def sign_in(client: Client, username: str) -> None:
    """Through the sign-in form, as a browser does (which rotates the CSRF token)."""
    token = str(client.get(reverse("login")).context["csrf_token"])
    response = client.post(
        reverse("login"),
        {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302


def test_a_page_older_than_the_last_sign_in_says_reload_it(release, personas):
    """Signing in again (in another tab) rotates the CSRF token: the old page's next action
    was answered "Forbidden (403)" (Django's own page), which the page showed as it was."""
    client = Client(enforce_csrf_checks=True)
    sign_in(client, "releng")
    page = client.get(reverse("release_detail", kwargs={"pk": release.pk}))
    old_token = str(page.context["csrf_token"])
    sign_in(client, "releng")  # again, as in another tab: a new token
    item = release.items.first()
    url = reverse("item_tick", kwargs={"pk": release.pk, "item_pk": item.pk})
    response = client.post(
        url, {"revision": item.revision}, headers={"HX-Request": "true", "X-CSRFToken": old_token}
    )
    assert response.status_code == 403
    html = response.content.decode()
    assert "data-error-message>Nothing was changed: this page is older" in html
    assert "Reload the page" in html
