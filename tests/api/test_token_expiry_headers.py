"""Every API answer made with a token that expires says when (X-Token-Expires-At), and
within its last 7 days says what to do (X-Token-Expiry-Notice): CI sees the expiry coming
instead of meeting the 401."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from release_portal.api.models import ApiToken
from release_portal.api.tokens import EXPIRES_AT_HEADER, EXPIRY_NOTICE_HEADER
from release_portal.templatetags.portal import utc_time
from tests.api.conftest import Api, url
from tests.api.test_token_expiry import wrong_secret

pytestmark = pytest.mark.django_db

README = Path(__file__).resolve().parents[2] / "README.md"


def expiring_in(token: ApiToken, delta: timedelta) -> datetime:
    at = (timezone.now() + delta).replace(microsecond=0)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=at)
    return at


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_it_gives_the_expiry_of_a_token_30_days_off_without_a_notice(client, project, make_token):
    new = make_token(name="ci")
    at = expiring_in(new.token, timedelta(days=30))
    response = Api(client, new.value).get(url(f"/projects/{project.slug}/releases"))
    assert response.status_code == 200
    assert response[EXPIRES_AT_HEADER] == rfc3339(at)
    assert EXPIRY_NOTICE_HEADER not in response


def test_it_gives_the_expiry_and_a_notice_within_the_last_7_days(client, project, make_token):
    new = make_token(name="ci")
    at = expiring_in(new.token, timedelta(days=3))
    response = Api(client, new.value).get(url(f"/projects/{project.slug}/releases"))
    assert response.status_code == 200
    assert response[EXPIRES_AT_HEADER] == rfc3339(at)
    assert response[EXPIRY_NOTICE_HEADER] == (
        f"This API token (ci) expires on {utc_time(at)}: a platform lead of Ibimina creates "
        "a new one at /projects/ibimina/tokens/"
    )


def test_a_new_token_with_the_default_lifetime_carries_its_expiry(client, project, make_token):
    new = make_token()
    response = Api(client, new.value).get(url(f"/projects/{project.slug}/releases"))
    assert response[EXPIRES_AT_HEADER] == rfc3339(new.token.expires_at)
    assert EXPIRY_NOTICE_HEADER not in response


def test_a_token_that_never_expires_gets_neither(client, project, make_token):
    new = make_token()
    ApiToken.objects.filter(pk=new.token.pk).update(expires_at=None)
    response = Api(client, new.value).get(url(f"/projects/{project.slug}/releases"))
    assert response.status_code == 200
    assert EXPIRES_AT_HEADER not in response
    assert EXPIRY_NOTICE_HEADER not in response


@pytest.mark.parametrize(
    ("scopes", "method", "path", "status"),
    [
        (("read",), "get", "/projects/other-team/releases", 404),  # another project's
        (("read",), "post", "/projects/ibimina/releases", 422),  # a body it refuses
        (("read",), "get", "/releases/999999", 404),
    ],
)
def test_every_answer_made_with_the_token_carries_them_errors_too(
    client, project, other_project, make_token, scopes, method, path, status
):
    new = make_token(scopes)
    at = expiring_in(new.token, timedelta(days=2))
    response = getattr(Api(client, new.value), method)(url(path))
    assert response.status_code == status
    assert response[EXPIRES_AT_HEADER] == rfc3339(at)
    assert response[EXPIRY_NOTICE_HEADER].startswith("This API token (ci) expires on ")


@pytest.mark.parametrize("how", ["expired", "wrong secret", "revoked"])
def test_a_refused_request_gets_neither(client, project, make_token, platform_lead, how):
    new = make_token()
    value = new.value
    if how == "expired":
        expiring_in(new.token, -timedelta(hours=1))
    elif how == "wrong secret":
        expiring_in(new.token, timedelta(days=3))
        value = wrong_secret(value)
    else:
        expiring_in(new.token, timedelta(days=3))
        ApiToken.objects.filter(pk=new.token.pk).update(
            revoked_at=timezone.now(), revoked_by=platform_lead
        )
    response = Api(client, value).get(url(f"/projects/{project.slug}/releases"))
    assert response.status_code == 401
    assert EXPIRES_AT_HEADER not in response
    assert EXPIRY_NOTICE_HEADER not in response


def test_a_project_named_beyond_ascii_is_named_by_its_slug_in_the_notice(
    client, project, make_token
):
    project.name = "Caféteria ☕"
    project.save(update_fields=["name"])
    new = make_token(name="ci")
    expiring_in(new.token, timedelta(days=1))
    response = Api(client, new.value).get(url(f"/projects/{project.slug}/releases"))
    notice = response[EXPIRY_NOTICE_HEADER]
    assert "a platform lead of ibimina creates a new one at /projects/ibimina/tokens/" in notice
    assert notice.isascii()


def test_the_api_description_and_the_readme_name_both_headers(client):
    description = client.get("/api/openapi.json").json()["info"]["description"]
    api_section = README.read_text().split("## CI integration", 1)[1].split("\n## ", 1)[0]
    for text in (description, api_section):
        assert EXPIRES_AT_HEADER in text
        assert EXPIRY_NOTICE_HEADER in text
