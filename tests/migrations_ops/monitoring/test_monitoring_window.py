"""Post-deploy monitoring windows against a real throwaway production database."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import TestCase

from migrations_ops.monitoring import services
from migrations_ops.monitoring.models import HealthQuery, HealthSample, MonitoringWindow
from release_portal.audit.models import AuditEvent
from release_portal.webhooks.models import Webhook, WebhookMessage
from tests.migrations_ops.jobs.processes import wait_for

pytestmark = pytest.mark.django_db

LOCKS = "Lock requests waiting"


def samples(window, name):
    return list(HealthSample.objects.filter(window=window, query__name=name).order_by("at", "pk"))


def tick(window, *, after=timedelta(0)):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return services.monitoring_tick(now=window.started_at + after)


@pytest.fixture
def waiting_lock(production_db):
    """A session waiting on a lock another session holds, on the production database."""
    holder = psycopg.connect(production_db, autocommit=True)
    waiter = psycopg.connect(production_db, autocommit=True)
    holder.execute("create table app_accounts (id int)")
    holder.execute("begin")
    holder.execute("lock table app_accounts in access exclusive mode")
    waiter.execute("set statement_timeout = '20s'")
    waiter.pgconn.send_query(b"select count(*) from app_accounts")  # waits on the lock
    with psycopg.connect(production_db, autocommit=True) as probe:
        wait_for(
            lambda: probe.execute("select count(*) from pg_locks where not granted").fetchone()[0],
            timeout=10,
            what="the second session to wait on the lock",
        )
    yield
    holder.execute("rollback")
    holder.close()
    waiter.close()


def test_it_starts_a_window_with_the_default_health_queries(window, deploying_release):
    assert deploying_release.state == "monitoring"
    assert window.state == "open" and window.running
    assert window.ends_at - window.started_at == timedelta(minutes=30)
    names = list(HealthQuery.objects.filter(project=deploying_release.project).values_list(
        "name", flat=True))  # fmt: skip
    assert names == [
        LOCKS, "Statements running over 5 minutes",
        "Transactions rolled back since the last sample"]  # fmt: skip
    assert AuditEvent.objects.filter(action="monitoring.start").count() == 1


def test_starting_twice_returns_the_running_window(window, production_target, sre):
    again = services.monitoring_start(release=window.release, target=production_target, user=sre)
    assert again.pk == window.pk and MonitoringWindow.objects.count() == 1


def test_it_uses_the_projects_window_length(
    deploying_release, production_target, production_db, platform_lead
):
    settings_row = services.project_monitoring(deploying_release.project)
    settings_row.window_minutes = 45
    settings_row.save()
    made = services.monitoring_start(
        release=deploying_release, target=production_target, user=platform_lead
    )
    assert made.ends_at - made.started_at == timedelta(minutes=45)


def test_it_refuses_staging_and_releases_that_did_not_deploy(
    approved_release, staging_target, production_target, platform_lead
):
    with pytest.raises(ValidationError, match="not a production target"):
        services.monitoring_start(
            release=approved_release, target=staging_target, user=platform_lead
        )
    with pytest.raises(ValidationError, match="monitoring starts after a production deploy"):
        services.monitoring_start(
            release=approved_release, target=production_target, user=platform_lead
        )
    assert not MonitoringWindow.objects.exists()


@pytest.mark.parametrize("role", ["qa_lead", "auditor", "outsider"])
def test_only_deployers_start_a_window(deploying_release, production_target, personas, role):
    with pytest.raises(PermissionDenied):
        services.monitoring_start(
            release=deploying_release, target=production_target, user=personas[role]
        )


def test_a_lock_waited_on_in_production_alerts(window, waiting_lock, webhook_sent):
    Webhook.objects.create(
        project=window.release.project, name="pager", url="https://hooks.example.com/p",
        events=["monitoring.alert"],
    )  # fmt: skip
    report = tick(window, after=timedelta(minutes=1))
    assert report.alerts == [(window.pk, LOCKS)]
    window.refresh_from_db()
    assert window.state == "alerted" and window.running
    (sample,) = samples(window, LOCKS)
    assert sample.value >= 1 and not sample.ok and sample.error == ""
    alert = AuditEvent.objects.get(action="monitoring.alert")
    assert alert.data["query"] == LOCKS and alert.data["value"] >= 1
    assert alert.data["incident_url"] == f"/releases/{window.release.pk}/incidents/new"
    message = WebhookMessage.objects.get(event="monitoring.alert")
    assert LOCKS in message.body and "production" in message.body
    # The same query crossing again in the same window does not alert twice.
    assert tick(window, after=timedelta(minutes=2)).alerts == []
    assert len(samples(window, LOCKS)) == 2
    assert WebhookMessage.objects.count() == 1


def test_a_clean_window_ends_and_the_release_is_deployed(window):
    tick(window, after=timedelta(minutes=1))
    assert all(s.ok for s in HealthSample.objects.filter(window=window)), [
        (s.query.name, s.value, s.error) for s in HealthSample.objects.filter(window=window)
    ]
    report = tick(window, after=timedelta(minutes=30, seconds=1))
    assert report.ended == [window.pk]
    window.refresh_from_db()
    window.release.refresh_from_db()
    assert (window.state, window.release.state) == ("clean", "deployed")
    ended = AuditEvent.objects.get(action="release.state", data__to="deployed")
    assert "ended clean" in ended.data["reason"]
    assert tick(window, after=timedelta(minutes=31)).ended == []  # nothing left to do


def test_an_alerted_window_ends_without_deploying_the_release(window, waiting_lock):
    tick(window, after=timedelta(minutes=1))
    tick(window, after=timedelta(minutes=31))
    window.refresh_from_db()
    window.release.refresh_from_db()
    assert window.state == "alerted" and not window.running
    assert window.release.state == "monitoring"


def test_a_window_that_could_not_read_production_does_not_end_clean(
    window, monkeypatch, webhook_sent
):
    from tests.deploy_fixtures import PRODUCTION_ENV

    monkeypatch.delenv(PRODUCTION_ENV)
    tick(window, after=timedelta(minutes=1))
    (sample,) = samples(window, LOCKS)
    assert sample.value is None
    assert sample.error == (
        f"no database URL for production: set {PRODUCTION_ENV} where the portal and its workers run"
    )
    assert not AuditEvent.objects.filter(action="monitoring.alert").exists()  # errors alone
    tick(window, after=timedelta(minutes=31))
    window.refresh_from_db()
    window.release.refresh_from_db()
    assert window.state == "alerted" and window.release.state == "monitoring"
    assert window.reason.startswith("never read, or failing at the end: " + LOCKS)
    assert AuditEvent.objects.filter(action="notify.monitoring.alert").count() == 1


def test_closing_early_with_a_reason_deploys_the_release(window, sre):
    services.monitoring_close(window=window, user=sre, reason="dashboards green, traffic normal")
    window.refresh_from_db()
    window.release.refresh_from_db()
    assert (window.state, window.closed_by, window.release.state) == (
        "closed_early", sre, "deployed")  # fmt: skip
    event = AuditEvent.objects.get(action="monitoring.close")
    assert event.data["reason"] == "dashboards green, traffic normal"
    with pytest.raises(ValidationError, match="already ended"):
        services.monitoring_close(window=window, user=sre, reason="again")


def test_closing_early_needs_a_reason_and_the_role(window, sre, release_engineer):
    with pytest.raises(ValidationError, match="Say why"):
        services.monitoring_close(window=window, user=sre, reason="  ")
    with pytest.raises(PermissionDenied):
        services.monitoring_close(window=window, user=release_engineer, reason="looks fine")
    window.refresh_from_db()
    assert window.state == "open"


def test_a_window_whose_release_left_monitoring_stops(window):
    from django.db import transaction

    from checklists.services.state import release_transition

    with transaction.atomic():
        release_transition(release=window.release, to="failed", actor=None, reason="rolled back")
    tick(window, after=timedelta(minutes=1))
    window.refresh_from_db()
    assert window.state == "closed_early" and not window.running
    assert "left monitoring (failed)" in window.reason
