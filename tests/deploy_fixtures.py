"""Deploying: throwaway "staging" and "production" databases, approved releases, targets.

Targets name environment variables that the fixtures point at scratch databases on the
test PostgreSQL server; the databases are dropped after each test.
"""

from __future__ import annotations

import pytest
from django.db import transaction

from migrations_ops.jobs import dispatch
from tests.checklists.conftest import release, release_with_files, runbook  # noqa: F401
from tests.factories import TargetFactory, settle_checklist, sign_off
from tests.migrations_ops.conftest import make_database, server_url  # noqa: F401

STAGING_ENV = "DEPLOY_TEST_STAGING_URL"
PRODUCTION_ENV = "DEPLOY_TEST_PRODUCTION_URL"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def sent(monkeypatch):
    """Job messages "sent" to Celery: (job_id, kind, queue)."""
    calls: list[tuple[int, str, str]] = []
    monkeypatch.setattr(
        dispatch, "job_send", lambda *, job_id, kind, queue: calls.append((job_id, kind, queue))
    )
    return calls


@pytest.fixture
def staging_db(make_database, monkeypatch) -> str:  # noqa: F811
    url = make_database("staging")
    monkeypatch.setenv(STAGING_ENV, url)
    return url


@pytest.fixture
def production_db(make_database, monkeypatch) -> str:  # noqa: F811
    url = make_database("production")
    monkeypatch.setenv(PRODUCTION_ENV, url)
    return url


@pytest.fixture
def staging_target(project):
    return TargetFactory(project=project, name="staging", kind="staging", url_env_var=STAGING_ENV)


@pytest.fixture
def production_target(project):
    return TargetFactory(
        project=project, name="production", kind="production", url_env_var=PRODUCTION_ENV
    )


def approve(release, owner) -> None:  # noqa: F811
    """Settle every checklist item and give the owner's sign-off: the gate opens."""
    settle_checklist(release, owner)
    release.refresh_from_db()
    sign_off(release, owner)
    release.refresh_from_db()
    assert release.state == "approved"


@pytest.fixture
def approved_release(release_with_files, platform_lead):  # noqa: F811
    approve(release_with_files, platform_lead)
    return release_with_files


@pytest.fixture
def receiver(settings):
    """A real HTTP receiver on 127.0.0.1 (loopback allowed for the test)."""
    from tests.webhooks.receiver import serve

    settings.WEBHOOK_ALLOW_LOOPBACK = True
    yield from serve()


@pytest.fixture
def webhook_sent(monkeypatch):
    """Webhook messages handed to Celery: (message_id, countdown)."""
    from release_portal.webhooks import delivery, sinks

    calls: list[tuple[int, float | None]] = []

    def record(message_id, *, countdown=None):
        calls.append((message_id, countdown))

    monkeypatch.setattr(sinks, "send_message", record)
    monkeypatch.setattr(delivery, "send_message", record)
    return calls


@pytest.fixture
def deploying_release(approved_release):
    """An approved release whose production deployment has started."""
    from checklists.services.state import release_transition

    with transaction.atomic():
        release_transition(release=approved_release, to="deploying", actor=None, reason="test")
    approved_release.refresh_from_db()
    return approved_release


@pytest.fixture
def window(deploying_release, production_target, production_db, platform_lead):
    """A running monitoring window on a real throwaway production database."""
    from migrations_ops.monitoring.services import monitoring_start

    made = monitoring_start(release=deploying_release, target=production_target, user=platform_lead)
    deploying_release.refresh_from_db()
    return made
