"""In a real browser: the monitoring panel polls while the window runs and stops once it
is over; nothing on the page breaks the Content-Security-Policy."""

from __future__ import annotations

from datetime import timedelta

import pytest

from migrations_ops.monitoring import services
from migrations_ops.monitoring.models import HealthQuery
from migrations_ops.monitoring.sampling import Reading
from release_portal.webhooks.models import Webhook
from tests.e2e.conftest import browser, login, page, screenshot  # noqa: F401
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_panel_follows_the_window_until_it_ends(live_server, page, window, sre):  # noqa: F811
    query = HealthQuery.objects.get(project=window.release.project, builtin="blocked_locks")
    for minute, value in enumerate([0, 0, 1, 3, 0], start=1):
        services.record_samples(
            window_id=window.pk, queries=[query], readings=[Reading(query.pk, raw=value)],
            at=window.started_at + timedelta(minutes=minute),
        )  # fmt: skip
    login(page, live_server, sre.username, PASSWORD)
    page.goto(f"{live_server.url}/releases/{window.release.pk}/monitoring")
    page.wait_for_selector('#monitoring-panel[data-window-state="alerted"]')
    assert page.locator("#monitoring-panel polyline").count() >= 1
    screenshot(page, "monitoring_panel_alerted")

    services.monitoring_close(window=window, user=sre, reason="locks cleared, dashboards green")
    # The next poll (every 5 s) brings the ended panel with status 286, and polling stops.
    with page.expect_response(lambda r: "/monitoring" in r.url and r.status == 286, timeout=12_000):
        pass
    page.wait_for_selector('#monitoring-panel[data-window-state="closed_early"]')
    assert page.locator("#monitoring-panel[hx-trigger]").count() == 0
    assert "locks cleared, dashboards green" in page.inner_text("#monitoring-panel")
    screenshot(page, "monitoring_panel_closed")
    assert page.csp.violations == []


def test_the_webhooks_page_keeps_to_the_csp(live_server, page, project, platform_lead):  # noqa: F811
    Webhook.objects.create(
        project=project, name="ops", url="https://hooks.example.com/x", events=["job.failed"]
    )
    login(page, live_server, platform_lead.username, PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.slug}/webhooks/")
    page.wait_for_selector("#delivery-log")
    screenshot(page, "webhooks_page")
    assert page.csp.violations == []
