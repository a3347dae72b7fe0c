import pytest
from django.urls import reverse


@pytest.mark.django_db
def test_it_answers_ok_when_database_and_broker_are_reachable(client):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json()["checks"]["database"]["ok"] is True
    assert response.json()["checks"]["broker"]["ok"] is True


@pytest.mark.django_db
def test_it_answers_503_when_the_broker_is_down(client, settings):
    # A Redis URL on a port where nothing listens.
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True
    # No URLs or secrets in the answer: only the error's kind.
    assert "127.0.0.1" not in response.content.decode()


@pytest.mark.django_db
def test_it_needs_no_login(client):
    assert client.get(reverse("healthz")).status_code in (200, 503)
