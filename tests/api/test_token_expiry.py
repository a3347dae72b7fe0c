"""API tokens expire: the lifetime chosen at creation, the 401 that says so, the tokens
page's expiry column and order, the change log's sentence, and the README's example."""

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from release_portal.accounts.roles import Role
from release_portal.api.models import ApiToken, TokenState
from release_portal.api.tokens import TokenError, token_authenticate, token_create, token_refusal
from release_portal.audit.models import AuditEvent
from release_portal.audit.registry import phrase_for
from release_portal.templatetags.portal import utc_time
from tests.api.conftest import Api, url
from tests.api.test_tokens import tokens_url
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

README = Path(__file__).resolve().parents[2] / "README.md"
EXPIRED_AT = datetime(2026, 12, 5, 14, 3, 27, tzinfo=UTC)
GENERIC_401 = "A valid API token is required"


def wrong_secret(value: str) -> str:
    secret = value.split("_", 2)[2]
    return value[: -len(secret)] + ("A" if secret[0] != "A" else "B") + secret[1:]


def expire(token: ApiToken, at: datetime = EXPIRED_AT) -> None:
    ApiToken.objects.filter(pk=token.pk).update(expires_at=at)


def rows(html: str) -> list[str]:
    """Each row of the tokens table as its text, tags dropped and spaces squeezed."""
    body = html.split('id="tokens"', 1)[1].split("</tbody>", 1)[0]
    return [" ".join(re.sub(r"<[^>]+>", " ", r).split()) for r in body.split("<tr>")[2:]]


# --- creating: the lifetime chosen, stored and shown on the answer ---------------------


@pytest.mark.parametrize(
    ("choice", "days"),
    [("7", 7), ("30", 30), ("60", 60), ("90", 90), ("365", 365), ("never", None)],
)
def test_it_stores_the_expiry_of_each_lifetime_and_shows_it_once_created(
    client, platform_lead, project, choice, days
):
    client.force_login(platform_lead)
    response = client.post(
        tokens_url(project), {"name": "ci", "scopes": ["read"], "lifetime": choice}
    )
    assert response.status_code == 200
    token = ApiToken.objects.get(name="ci")
    html = response.content.decode()
    answer = html.split('id="new-token"', 1)[1].split("</section>", 1)[0]
    if days is None:
        assert token.expires_at is None
        assert "This token never expires" in answer
        assert "Rotate it by hand" in answer
    else:
        assert token.expires_at - token.created_at == pytest.approx(
            timedelta(days=days), abs=timedelta(seconds=5)
        )
        assert f"It expires on <strong>{utc_time(token.expires_at)}</strong>" in answer
        assert "never expires" not in answer


def test_it_offers_90_days_by_default_and_gives_them_to_a_form_without_a_choice(
    client, platform_lead, project
):
    client.force_login(platform_lead)
    page = client.get(tokens_url(project)).content.decode()
    assert re.search(r'<option value="90" selected>90 days</option>', page)
    for label in ("7 days", "30 days", "60 days", "1 year", "No expiry"):
        assert f">{label}</option>" in page
    assert client.post(tokens_url(project), {"name": "ci", "scopes": ["read"]}).status_code == 200
    token = ApiToken.objects.get(name="ci")
    assert token.expires_at - token.created_at == pytest.approx(
        timedelta(days=90), abs=timedelta(seconds=5)
    )


def test_it_refuses_a_lifetime_it_does_not_offer(client, platform_lead, project):
    client.force_login(platform_lead)
    response = client.post(tokens_url(project), {"name": "ci", "scopes": ["read"], "lifetime": "3"})
    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_the_service_refuses_a_lifetime_that_is_not_positive(project, platform_lead):
    with pytest.raises(TokenError, match="lifetime must be positive"):
        token_create(
            project=project, name="ci", scopes=["read"], user=platform_lead,
            lifetime=timedelta(0),
        )  # fmt: skip
    assert not ApiToken.objects.exists()


# --- authenticating: an expired token is refused and never used --------------------------


def test_it_refuses_an_expired_token_saying_when_and_what_to_do(client, project, make_token):
    new = make_token(name="github-actions")
    expire(new.token)
    response = Api(client, new.value).get(url(f"/projects/{project.slug}/releases"))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json() == {
        "error": (
            f"This API token (github-actions, rp_{new.token.key_id}_…) expired on "
            "2026-12-05 14:03 UTC: a platform lead of Ibimina creates a new one on the "
            "project's API tokens page (/projects/ibimina/tokens/); store it in place of "
            "this one in the CI secret."
        ),
        "detail": None,
    }
    # An expired token is never used: its last use is not recorded.
    assert ApiToken.objects.get(pk=new.token.pk).last_used_at is None


def test_it_gives_a_wrong_secret_for_an_expired_token_the_plain_401(client, project, make_token):
    new = make_token()
    expire(new.token)
    response = Api(client, wrong_secret(new.value)).get(url(f"/projects/{project.slug}/releases"))
    assert response.status_code == 401
    assert response.json()["error"].startswith(GENERIC_401)
    assert "expired" not in response.json()["error"]
    assert token_refusal(wrong_secret(new.value)) is None


def test_it_still_takes_a_token_that_expires_tomorrow(client, project, make_token):
    new = make_token()
    tomorrow = timezone.now() + timedelta(days=1)
    expire(new.token, tomorrow)
    response = Api(client, new.value).get(url(f"/projects/{project.slug}/releases"))
    assert response.status_code == 200
    assert ApiToken.objects.get(pk=new.token.pk).last_used_at is not None


def test_it_keeps_taking_a_token_made_before_tokens_expired(client, project, make_token):
    new = make_token()
    ApiToken.objects.filter(pk=new.token.pk).update(expires_at=None)
    response = Api(client, new.value).get(url(f"/projects/{project.slug}/releases"))
    assert response.status_code == 200


def test_a_token_expires_at_its_expiry_not_a_moment_later(project, make_token):
    token = make_token().token
    token.expires_at = EXPIRED_AT
    assert token.state_at(EXPIRED_AT - timedelta(microseconds=1)) == TokenState.LIVE
    assert token.state_at(EXPIRED_AT) == TokenState.EXPIRED
    # A revocation is what someone did to the token: it is said over the expiry.
    token.revoked_at = EXPIRED_AT - timedelta(days=1)
    assert token.state_at(EXPIRED_AT) == TokenState.REVOKED


def test_it_says_revoked_for_a_token_both_revoked_and_expired(
    client, platform_lead, project, make_token
):
    new = make_token()
    client.force_login(platform_lead)
    revoke = reverse("token_revoke", kwargs={"slug": project.slug, "pk": new.token.pk})
    assert client.post(revoke).status_code == 302
    client.logout()
    expire(new.token)
    assert token_authenticate(new.value) is None
    error = Api(client, new.value).get(url(f"/projects/{project.slug}/releases")).json()["error"]
    assert " was revoked on 20" in error
    assert " UTC by lead: " in error
    assert "(/projects/ibimina/tokens/)" in error


# --- the tokens page: expiry, state and order --------------------------------------------


def test_it_lists_live_then_expired_then_revoked_tokens_with_their_expiry(
    client, platform_lead, project, make_token, django_assert_max_num_queries
):
    # Made in an order that no single column sorts as the page must: live tokens newest
    # first, expired ones latest expiry first, revoked ones latest revoked first.
    now = timezone.now()
    tokens = {}
    for name, expires_at, revoked_at in [
        ("expired-recently", EXPIRED_AT, None),
        ("expired-long-ago", EXPIRED_AT - timedelta(days=30), None),
        ("revoked-recently", now + timedelta(days=60), now - timedelta(hours=1)),
        ("revoked-long-ago", None, now - timedelta(days=20)),
        ("never", None, None),
        ("later", now + timedelta(days=30), None),
        ("soon", now + timedelta(days=3), None),
    ]:
        token = make_token(name=name).token
        ApiToken.objects.filter(pk=token.pk).update(
            expires_at=expires_at, revoked_at=revoked_at,
            revoked_by=platform_lead if revoked_at else None,
        )  # fmt: skip
        tokens[name] = ApiToken.objects.get(pk=token.pk)

    client.force_login(platform_lead)
    # The session, its user, the project, the person's roles, one query for the tokens
    # with their people and one for their expiry mails not sent, however many there are.
    with django_assert_max_num_queries(6):
        response = client.get(tokens_url(project))
    listed = [(t.name, t.state) for t in response.context["tokens"]]
    assert listed == [
        ("soon", "live"),
        ("later", "live"),
        ("never", "live"),
        ("expired-recently", "expired"),
        ("expired-long-ago", "expired"),
        ("revoked-recently", "revoked"),
        ("revoked-long-ago", "revoked"),
    ]
    text = dict(zip([name for name, _ in listed], rows(response.content.decode()), strict=True))
    assert f"{utc_time(tokens['soon'].expires_at)} expires soon" in text["soon"]
    assert utc_time(tokens["later"].expires_at) in text["later"]
    assert "expires soon" not in text["later"]
    assert "never expires no expiry: rotate it by hand" in text["never"]
    assert "2026-12-05 14:03 UTC" in text["expired-recently"]
    assert "expired 2026-12-05" in text["expired-recently"]
    assert "expired 2026-11-05" in text["expired-long-ago"]
    assert "expires soon" not in text["expired-recently"]
    # A revoked token is revoked, whatever its expiry said; no rotation advice for it.
    assert "revoked " in text["revoked-recently"] and "expired" not in text["revoked-recently"]
    assert "never expires" in text["revoked-long-ago"]
    assert "rotate it by hand" not in text["revoked-long-ago"]
    # Times are absolute: no "in 3 days" that goes stale while the page is open.
    assert not re.search(r"\bin \d+ days?\b", " ".join(text.values()))


def test_it_names_the_expired_token_that_holds_a_name_and_frees_it_when_revoked(
    client, platform_lead, project, make_token
):
    old = make_token(name="ci").token
    expire(old)
    client.force_login(platform_lead)
    response = client.post(tokens_url(project), {"name": "ci", "scopes": ["read"]})
    assert response.status_code == 400
    assert (
        "Ibimina&#x27;s token &#x27;ci&#x27; expired on 2026-12-05 14:03 UTC but still holds "
        "its name: revoke it in the list first, or choose another name."
    ) in response.content.decode()
    revoke = reverse("token_revoke", kwargs={"slug": project.slug, "pk": old.pk})
    followed = client.post(revoke, follow=True).content.decode()
    assert "Revoked ci, which had expired: its name is free for a new token." in followed
    assert client.post(tokens_url(project), {"name": "ci", "scopes": ["read"]}).status_code == 200
    assert ApiToken.objects.filter(name="ci").count() == 2


# --- who manages a project's tokens -------------------------------------------------------


def test_only_the_projects_own_lead_creates_its_expiring_tokens(
    client, platform_lead, outsider, project, other_project, make_token
):
    make_token(name="ibimina-ci")
    theirs = token_create(
        project=other_project, name="other-ci", scopes=["read"], user=outsider,
        lifetime=timedelta(days=7),
    ).token  # fmt: skip
    # Another project's lead neither sees this project's tokens nor creates one there.
    client.force_login(outsider)
    assert client.get(tokens_url(project)).status_code == 404
    refused = client.post(
        tokens_url(project), {"name": "sneaky", "scopes": ["read"], "lifetime": "never"}
    )
    assert refused.status_code == 404
    assert not ApiToken.objects.filter(name="sneaky").exists()
    own = client.get(tokens_url(other_project))
    assert [t.pk for t in own.context["tokens"]] == [theirs.pk]
    assert "ibimina-ci" not in own.content.decode()
    # This project's lead creates one here, and sees this project's tokens only.
    client.force_login(platform_lead)
    created = client.post(
        tokens_url(project), {"name": "deploy-ci", "scopes": ["deploy"], "lifetime": "30"}
    )
    assert created.status_code == 200
    assert {t.name for t in created.context["tokens"]} == {"ibimina-ci", "deploy-ci"}
    assert client.get(tokens_url(other_project)).status_code == 404
    revoke = reverse("token_revoke", kwargs={"slug": other_project.slug, "pk": theirs.pk})
    assert client.post(revoke).status_code == 404


# --- the change log ----------------------------------------------------------------------


def test_the_change_log_says_the_expiry_of_a_new_token(client, platform_lead, project):
    client.force_login(platform_lead)
    client.post(tokens_url(project), {"name": "ci", "scopes": ["report", "read"], "lifetime": "30"})
    client.post(
        tokens_url(project), {"name": "ci-forever", "scopes": ["read"], "lifetime": "never"}
    )
    token = ApiToken.objects.get(name="ci")
    made = AuditEvent.objects.get(action="api_token.create", data__name="ci")
    forever = AuditEvent.objects.get(action="api_token.create", data__name="ci-forever")
    assert made.data["expires_at"] is not None
    assert phrase_for(made) == (
        f"created the API token ci (read, report) expiring {utc_time(token.expires_at)}"
    )
    assert forever.data["expires_at"] is None
    assert phrase_for(forever) == "created the API token ci-forever (read) that never expires"
    # The change log page says it as the lead reads it.
    html = client.get(reverse("audit_log")).content.decode()
    assert f"created the API token ci (read, report) expiring {utc_time(token.expires_at)}" in html


def test_an_event_from_before_tokens_expired_says_no_expiry():
    class Old:
        action = "api_token.create"
        data = {"name": "ci", "scopes": ["read"], "key_id": "0123456789ab"}
        object_repr = "token:ci"

    assert phrase_for(Old()) == "created the API token ci (read)"


# --- the README's example ----------------------------------------------------------------


def test_the_readmes_expired_token_answer_is_the_one_ci_gets(client, db):
    section = README.read_text().split("### Tokens", 1)[1].split("\n### ", 1)[0]
    shown = json.loads(section.split("```json", 1)[1].split("```", 1)[0])
    demo = ProjectFactory(name="Ibimina (demo)", slug="demo")
    lead = UserFactory(username="demo-lead")
    MembershipFactory(user=lead, project=demo, role=Role.PLATFORM_LEAD)
    new = token_create(project=demo, name="github-actions-main", scopes=["read"], user=lead)
    key_id = re.search(r"rp_([0-9a-f]{12})_…", shown["error"]).group(1)
    ApiToken.objects.filter(pk=new.token.pk).update(key_id=key_id, expires_at=EXPIRED_AT)
    value = f"rp_{key_id}_{new.value.split('_', 2)[2]}"
    response = Api(client, value).get(url("/projects/demo/releases"))
    assert response.status_code == 401
    assert response.json() == shown
