"""Cookie flags and security headers, as a browser receives them."""

import pytest
from django.urls import reverse


@pytest.fixture
def https(settings):
    # What production runs with (HTTPS on by default when DEBUG is off).
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000


def test_session_and_csrf_cookies_are_secure_httponly_and_samesite(
    client, qa_lead, password, https
):
    page = client.get(reverse("login"), secure=True)
    csrf = page.cookies["csrftoken"]
    assert csrf["secure"] and csrf["samesite"] == "Lax"
    response = client.post(reverse("login"), {"username": "qa", "password": password}, secure=True)
    session = response.cookies["sessionid"]
    assert session["secure"]
    assert session["httponly"]
    assert session["samesite"] == "Lax"


def test_plain_http_is_redirected_to_https_in_production(client, https):
    response = client.get(reverse("login"))
    assert response.status_code == 301
    assert response["Location"].startswith("https://")


def test_the_health_check_answers_over_plain_http(client, https, settings):
    settings.SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    assert client.get(reverse("healthz")).status_code in (200, 503)


def test_pages_carry_the_security_headers(client, https):
    response = client.get(reverse("login"), secure=True)
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    csp = response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp


def test_csrf_is_refused_without_a_token(qa_lead, password):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": "qa", "password": password})
    assert response.status_code == 403
