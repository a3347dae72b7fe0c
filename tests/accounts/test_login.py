import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from django.urls import reverse

from release_portal.audit.models import AuditEvent
from release_portal.http import client_address


@pytest.mark.django_db
def test_it_redirects_anonymous_people_to_login(client):
    response = client.get(reverse("dashboard"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.django_db
def test_it_shows_the_login_page(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'name="username"' in response.content
    assert b"csrfmiddlewaretoken" in response.content


def test_it_signs_in_with_the_right_password(client, qa_lead, password):
    response = client.post(reverse("login"), {"username": "qa", "password": password})
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard")
    assert client.get(reverse("dashboard")).status_code == 200


def test_it_refuses_a_wrong_password(client, qa_lead):
    response = client.post(reverse("login"), {"username": "qa", "password": "nope-nope-nope"})
    assert response.status_code == 200
    assert b"correct username and password" in response.content


def test_it_locks_out_after_repeated_failures(client, qa_lead, password):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": "qa", "password": "wrong-password-1"})
    # Even the right password is refused while locked out.
    response = client.post(reverse("login"), {"username": "qa", "password": password})
    assert response.status_code == 429
    assert b"Too many failed sign-ins" in response.content
    assert client.get(reverse("dashboard")).status_code == 302


def test_a_lockout_of_one_person_leaves_others_alone(client, qa_lead, sre, password):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": "qa", "password": "wrong-password-1"})
    response = client.post(reverse("login"), {"username": "sre", "password": password})
    assert response.status_code == 302


def test_logout_needs_a_post(client, qa_lead):
    client.force_login(qa_lead)
    assert client.get(reverse("logout")).status_code == 405
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("dashboard")).status_code == 302


def test_password_validators_refuse_weak_passwords(client, qa_lead, password):
    client.force_login(qa_lead)
    response = client.post(
        reverse("password_change"),
        {"old_password": password, "new_password1": "12345678", "new_password2": "12345678"},
    )
    assert response.status_code == 200
    assert b"too short" in response.content or b"too common" in response.content
    assert not AuditEvent.objects.exists()


# --- whose lockout: per username and the client's address -----------------------------------

ATTACKER, REAL_USER, PROXY = "203.0.113.9", "198.51.100.7", "10.0.0.1"


def sign_in(client, password, *, remote=PROXY, forwarded=None):
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return client.post(
        reverse("login"), {"username": "qa", "password": password}, REMOTE_ADDR=remote,
        headers=headers,
    )  # fmt: skip


def test_a_lockout_from_one_address_leaves_the_user_in_from_another(
    client, qa_lead, password, settings
):
    settings.PROXY_COUNT = 0
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "wrong-password-1", remote=ATTACKER)
    assert sign_in(client, password, remote=ATTACKER).status_code == 429
    assert sign_in(Client(), password, remote=REAL_USER).status_code == 302


def test_behind_a_proxy_the_lockout_is_per_client_address(client, qa_lead, password, settings):
    settings.PROXY_COUNT = 1
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "wrong-password-1", forwarded=ATTACKER)
    assert sign_in(client, password, forwarded=ATTACKER).status_code == 429
    # Same proxy, another client: not locked out.
    assert sign_in(Client(), password, forwarded=REAL_USER).status_code == 302


def test_a_spoofed_leftmost_forwarded_entry_does_not_move_the_lockout(
    client, qa_lead, password, settings
):
    settings.PROXY_COUNT = 1
    for n in range(settings.AXES_FAILURE_LIMIT):
        # The proxy appends the address it saw; whatever the client sent stays on the left.
        sign_in(client, "wrong-password-1", forwarded=f"192.0.2.{n}, {ATTACKER}")
    response = sign_in(client, password, forwarded=f"{REAL_USER}, {ATTACKER}")
    assert response.status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {ATTACKER}


def test_without_proxies_the_forwarded_header_is_ignored(client, qa_lead, password, settings):
    settings.PROXY_COUNT = 0
    for n in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "wrong-password-1", remote=ATTACKER, forwarded=f"192.0.2.{n}")
    assert sign_in(client, password, remote=ATTACKER, forwarded=REAL_USER).status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {ATTACKER}


@pytest.mark.parametrize(
    ("proxies", "remote", "forwarded", "client_is"),
    [
        (0, "203.0.113.9", "1.1.1.1", "203.0.113.9"),
        (1, PROXY, "1.1.1.1, 203.0.113.9", "203.0.113.9"),
        (2, PROXY, "1.1.1.1, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (2, PROXY, "203.0.113.9", "203.0.113.9"),  # fewer entries: all from our proxies
        (1, PROXY, "", PROXY),
        (1, PROXY, "1.1.1.1, not-an-address", PROXY),
        (1, PROXY, "1.1.1.1,2001:db8::5", "2001:db8::5"),
    ],
)
def test_the_client_address_is_the_nth_forwarded_entry_from_the_right(
    rf, settings, proxies, remote, forwarded, client_is
):
    settings.PROXY_COUNT = proxies
    request = rf.get("/", REMOTE_ADDR=remote, headers={"X-Forwarded-For": forwarded})
    assert client_address(request) == client_is
