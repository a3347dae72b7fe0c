"""API tokens: the page, the value shown once, hashing, revocation, last use, audit."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from release_portal.api.models import ApiToken
from release_portal.api.tokens import token_authenticate
from release_portal.audit.models import AuditEvent
from tests.api.conftest import Api, url


def tokens_url(project):
    return reverse("project_tokens", kwargs={"slug": project.slug})


def test_it_shows_a_new_token_once_and_stores_only_its_hash(client, platform_lead, project):
    client.force_login(platform_lead)
    response = client.post(
        tokens_url(project), {"name": "github-actions", "scopes": ["read", "report"]}
    )
    assert response.status_code == 200
    token = ApiToken.objects.get(name="github-actions")
    value = response.context["new_value"]
    assert value.startswith(f"rp_{token.key_id}_")
    assert value in response.content.decode()
    assert value.split("_", 2)[2] not in token.secret_sha256
    assert len(token.secret_sha256) == 64
    assert token.scopes == ["read", "report"]
    assert response["Cache-Control"] == "no-store"
    again = client.get(tokens_url(project)).content.decode()
    assert value not in again
    assert f"rp_{token.key_id}_" in again  # the prefix, to recognise it
    event = AuditEvent.objects.get(action="api_token.create")
    assert event.actor_name == "lead"
    assert event.data["scopes"] == ["read", "report"]
    assert value not in str(event.data)


@pytest.mark.parametrize("role", ["release_engineer", "qa_lead", "sre", "auditor"])
def test_it_refuses_the_tokens_page_to_other_roles(client, personas, project, role):
    client.force_login(personas[role])
    assert client.get(tokens_url(project)).status_code == 403
    assert client.post(tokens_url(project), {"name": "x", "scopes": ["read"]}).status_code == 403
    assert not ApiToken.objects.exists()


def test_it_hides_the_tokens_page_from_other_projects(client, outsider, project, make_token):
    token = make_token().token
    client.force_login(outsider)
    assert client.get(tokens_url(project)).status_code == 404
    revoke = reverse("token_revoke", kwargs={"slug": project.slug, "pk": token.pk})
    assert client.post(revoke).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_it_refuses_a_token_without_scopes_or_a_duplicate_name(
    client, platform_lead, project, make_token
):
    make_token(name="ci")
    client.force_login(platform_lead)
    assert client.post(tokens_url(project), {"name": "ci2", "scopes": []}).status_code == 400
    response = client.post(tokens_url(project), {"name": "ci", "scopes": ["read"]})
    assert response.status_code == 400
    assert "already has a live token" in response.content.decode()
    assert ApiToken.objects.count() == 1


def test_it_revokes_a_token_and_the_api_then_says_401(client, platform_lead, project, make_token):
    new = make_token()
    api = Api(client, new.value)
    assert api.get(url(f"/projects/{project.slug}/releases")).status_code == 200
    client.force_login(platform_lead)
    revoke = reverse("token_revoke", kwargs={"slug": project.slug, "pk": new.token.pk})
    assert client.post(revoke).status_code == 302
    client.logout()
    response = api.get(url(f"/projects/{project.slug}/releases"))
    assert response.status_code == 401
    # CI's log says the token was revoked, when and by whom, and what to do: not the
    # answer for a missing or mistyped secret, which sends people looking for a typo.
    error = response.json()["error"]
    assert error.startswith(f"This API token (ci, rp_{new.token.key_id}_…) was revoked on 20")
    assert " UTC by lead: a platform lead of " in error
    assert "creates a new one on the project's API tokens page" in error
    assert new.value.split("_", 2)[2] not in error
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert AuditEvent.objects.filter(action="api_token.revoke", actor_name="lead").count() == 1
    # Only the whole secret hears it: the key id with another secret gets the plain 401.
    secret = new.value.split("_", 2)[2]
    wrong = new.value[: -len(secret)] + ("A" if secret[0] != "A" else "B") + secret[1:]
    response = Api(client, wrong).get(url(f"/projects/{project.slug}/releases"))
    assert response.status_code == 401
    assert response.json()["error"].startswith("A valid API token is required")


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer rp_000000000000_" + "x" * 43],
)
def test_it_answers_401_without_a_valid_token(client, project, make_token, header):
    make_token()
    headers = {"Authorization": header} if header else {}
    response = client.get(url(f"/projects/{project.slug}/releases"), headers=headers)
    assert response.status_code == 401
    assert set(response.json()) == {"error", "detail"}


def test_it_refuses_a_token_whose_secret_is_wrong(project, make_token):
    new = make_token()
    prefix, secret = new.value.rsplit("_", 1)[0], new.value.split("_", 2)[2]
    wrong = new.value[: -len(secret)] + ("A" if secret[0] != "A" else "B") + secret[1:]
    assert token_authenticate(new.value) == new.token
    assert token_authenticate(wrong) is None
    assert prefix.startswith("rp_")


def test_it_records_last_use_at_most_once_a_minute(project, make_token):
    new = make_token()
    assert new.token.last_used_at is None
    token_authenticate(new.value)
    first = ApiToken.objects.get(pk=new.token.pk).last_used_at
    assert first is not None
    token_authenticate(new.value)
    assert ApiToken.objects.get(pk=new.token.pk).last_used_at == first
    ApiToken.objects.filter(pk=new.token.pk).update(
        last_used_at=timezone.now() - timedelta(minutes=2)
    )
    token_authenticate(new.value)
    assert ApiToken.objects.get(pk=new.token.pk).last_used_at > first - timedelta(minutes=1)


def test_it_ignores_the_session_of_a_signed_in_browser(client, platform_lead, project, release):
    # The API takes bearer tokens only: a signed-in person's cookies (and so a forged
    # cross-site request riding on them) get 401, for reads and for changes.
    client.force_login(platform_lead)
    assert client.get(url(f"/releases/{release.pk}")).status_code == 401
    response = client.post(
        url(f"/projects/{project.slug}/releases"),
        {"title": "x", "commit_sha": "b" * 40, "owner": "lead"},
        content_type="application/json",
    )
    assert response.status_code == 401
    assert release.project.releases.count() == 1


def test_it_lists_live_tokens_before_revoked_ones(client, platform_lead, project, make_token):
    # A lead comes to the page for the tokens CI uses now: revoked ones go below them.
    old = make_token(name="old-ci").token
    live = make_token(name="ci").token
    client.force_login(platform_lead)
    revoke = reverse("token_revoke", kwargs={"slug": project.slug, "pk": old.pk})
    assert client.post(revoke).status_code == 302
    newer = make_token(name="deploy-ci").token
    listed = [t.pk for t in client.get(tokens_url(project)).context["tokens"]]
    assert listed == [newer.pk, live.pk, old.pk]
