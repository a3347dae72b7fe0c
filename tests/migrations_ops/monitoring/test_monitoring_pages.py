"""The monitoring panel (live while the window runs, 286 once over), closing early from
the page, and the project's health queries page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from migrations_ops.monitoring import services
from migrations_ops.monitoring.models import HealthQuery, MonitoringWindow
from migrations_ops.monitoring.sampling import Reading
from migrations_ops.monitoring.views import monitoring_panel_context
from release_portal.audit.models import AuditEvent
from tests.html import inline_code

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def panel(release):
    return reverse("release_monitoring", args=[release.pk])


def close(window):
    return reverse("monitoring_close", args=[window.pk])


def sampled(window, *values):
    """Record readings of the lock query as if beat had sampled them a minute apart."""
    query = HealthQuery.objects.get(project=window.release.project, builtin="blocked_locks")
    for minute, value in enumerate(values, start=1):
        services.record_samples(
            window_id=window.pk, queries=[query], readings=[Reading(query.pk, raw=value)],
            at=window.started_at + timedelta(minutes=minute),
        )  # fmt: skip
    return query


def test_the_panel_polls_while_the_window_runs(
    client, window, auditor, django_assert_max_num_queries
):
    sampled(window, 0, 0, 2)
    client.force_login(auditor)
    # session, user, roles, release, window, samples, queries (the sample count does not add)
    with django_assert_max_num_queries(8):
        response = client.get(panel(window.release), **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'hx-trigger="every 5s"' in html and 'data-window-state="alerted"' in html
    assert "<polyline" in html and "<svg" in html
    assert 'data-state="bad"' in html  # the lock query's latest value is over its threshold
    assert "Open an incident if production is affected" in html  # auditors: no link
    assert "Close the window early" not in html  # auditors read only
    assert inline_code(html) == []


def test_the_panel_answers_286_once_the_window_is_over(client, window, sre):
    services.monitoring_close(window=window, user=sre, reason="all green")
    client.force_login(sre)
    response = client.get(panel(window.release), **HTMX)
    assert response.status_code == 286
    html = response.content.decode()
    assert "hx-trigger" not in html and "all green" in html


def test_without_htmx_the_panel_is_a_page(client, window, qa_lead):
    client.force_login(qa_lead)
    response = client.get(panel(window.release))
    assert response.status_code == 200
    assert "<html" in response.content.decode()


def test_the_panel_offers_closing_to_sres_and_leads_only(rf, window, personas):
    for role, may in [("sre", True), ("platform_lead", True), ("release_engineer", False),
                      ("qa_lead", False), ("auditor", False)]:  # fmt: skip
        request = rf.get("/")
        request.user = personas[role]
        context = monitoring_panel_context(request, window.release)
        assert context["monitoring_may_close"] is may, role


def test_an_sre_is_offered_an_incident_when_the_window_alerted(client, window, sre):
    sampled(window, 4)
    client.force_login(sre)
    html = client.get(panel(window.release), **HTMX).content.decode()
    assert f'href="/releases/{window.release.pk}/incidents/new"' in html
    assert "Close the window early" in html


def test_an_sre_closes_the_window_early_with_a_reason(client, window, sre):
    client.force_login(sre)
    response = client.post(close(window), {"reason": "error rates flat, dashboards green"})
    assert response.status_code == 302
    assert response["Location"] == reverse("release_detail", args=[window.release.pk])
    window.refresh_from_db()
    window.release.refresh_from_db()
    assert (window.state, window.release.state) == ("closed_early", "deployed")


def test_closing_with_htmx_swaps_the_panel(client, window, platform_lead):
    client.force_login(platform_lead)
    response = client.post(close(window), {"reason": "verified by hand"}, **HTMX)
    assert response.status_code == 200
    assert 'data-window-state="closed_early"' in response.content.decode()


def test_closing_without_a_reason_changes_nothing(client, window, sre):
    client.force_login(sre)
    response = client.post(close(window), {"reason": ""}, **HTMX)
    assert response.status_code == 400
    assert "This field is required" in response.content.decode()
    window.refresh_from_db()
    assert window.state == "open"


@pytest.mark.parametrize("role", ["release_engineer", "qa_lead", "auditor"])
def test_other_roles_may_not_close_it(client, window, personas, role):
    client.force_login(personas[role])
    assert client.post(close(window), {"reason": "fine"}).status_code == 403
    assert MonitoringWindow.objects.get().state == "open"


def test_other_projects_see_nothing(client, window, outsider):
    client.force_login(outsider)
    assert client.get(panel(window.release), **HTMX).status_code == 404
    assert client.post(close(window), {"reason": "fine"}).status_code == 404


# --- health queries -------------------------------------------------------------------------


def queries_page(project):
    return reverse("health_queries", args=[project.slug])


def query_data(**overrides):
    data = {
        "name": "Failed logins per minute",
        "sql": "select count(*) from pg_stat_activity where state = 'idle in transaction'",
        "threshold": "3",
        "comparison": "gte",
        "enabled": "on",
    }
    data.update(overrides)
    return data


def test_a_lead_adds_a_health_query(client, project, platform_lead):
    client.force_login(platform_lead)
    page = client.get(queries_page(project))
    assert page.status_code == 200 and "Lock requests waiting" in page.content.decode()
    response = client.post(queries_page(project), query_data())
    assert response.status_code == 302
    query = HealthQuery.objects.get(name="Failed logins per minute")
    assert (query.threshold, query.comparison, query.crosses(3)) == (3.0, "gte", True)
    assert AuditEvent.objects.filter(action="health_query.create").count() == 1


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("select 1; drop table app.members", "exactly one statement"),
        ("update app.members set name = ''", "start it with SELECT or WITH"),
        ("select pg_terminate_backend(42)", "pg_terminate_backend"),
    ],
)
def test_it_refuses_sql_that_could_change_the_target(client, project, platform_lead, sql, message):
    client.force_login(platform_lead)
    response = client.post(queries_page(project), query_data(sql=sql))
    assert response.status_code == 400 and message in response.content.decode()
    assert not HealthQuery.objects.filter(name="Failed logins per minute").exists()


def test_a_lead_disables_a_query_and_sets_the_window_length(client, project, platform_lead):
    client.force_login(platform_lead)
    client.get(queries_page(project))  # first use creates the defaults
    query = HealthQuery.objects.get(project=project, builtin="rollbacks")
    edit = reverse("health_query_edit", args=[project.slug, query.pk])
    data = query_data(name=query.name, sql=query.sql, threshold="80", comparison="gt", enabled="")
    assert client.post(edit, data).status_code == 302
    query.refresh_from_db()
    assert (query.enabled, query.threshold) == (False, 80.0)
    response = client.post(
        reverse("monitoring_settings", args=[project.slug]), {"window_minutes": "45"}
    )
    assert response.status_code == 302
    assert project.monitoring.window_minutes == 45


@pytest.mark.parametrize("role", ["release_engineer", "qa_lead", "sre", "auditor"])
def test_only_leads_manage_health_queries(client, project, personas, role):
    client.force_login(personas[role])
    assert client.get(queries_page(project)).status_code == 403
    assert client.post(queries_page(project), query_data()).status_code == 403


def test_health_queries_of_other_projects_are_not_found(client, project, outsider):
    client.force_login(outsider)
    assert client.get(queries_page(project)).status_code == 404
