import pytest
from django.conf import settings
from django.urls import reverse

from release_portal.audit.models import AuditEvent


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
