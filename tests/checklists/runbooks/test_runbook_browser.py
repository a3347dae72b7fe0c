"""In a real browser: htmx edits a draft step in place, and Test connection answers in place."""

from __future__ import annotations

import pytest

from checklists.runbooks.services import runbook_import
from tests.checklists.runbooks.conftest import FIXTURES
from tests.e2e import conftest as e2e
from tests.e2e.conftest import login, screenshot
from tests.factories import TargetFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The e2e folder's fixtures (headless Chromium, a page that records CSP violations).
browser = e2e.browser
page = e2e.page


def test_a_lead_edits_a_step_in_place_with_htmx(
    page, live_server, project, platform_lead, password
):
    draft = runbook_import(
        project=project, source_bytes=(FIXTURES / "runbook_v1.md").read_bytes(), user=None
    )
    first = draft.steps.get(position=1)
    login(page, live_server, "lead", password)
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/projects/{project.slug}/runbooks/1/")
    row = page.locator(f"#step-{first.key}")
    row.get_by_label("Owner").select_option("qa_lead")
    row.get_by_role("button", name="Save").click()
    page.locator(f"#step-{first.key} [role=status]").wait_for()
    assert page.url.endswith("/runbooks/1/")  # swapped in place, no navigation
    first.refresh_from_db()
    assert first.owner == "qa_lead"
    assert page.locator("#lint").get_by_text("line 44").is_visible()
    screenshot(page, "runbook-draft-lead")
    assert page.csp.violations == []


def test_test_connection_answers_in_place(
    page, live_server, project, platform_lead, password, monkeypatch
):
    monkeypatch.setenv("RP_BROWSER_STAGING_URL", "postgresql://app:pw-in-url@127.0.0.1:1/postgres")
    target = TargetFactory(project=project, url_env_var="RP_BROWSER_STAGING_URL")
    login(page, live_server, "lead", password)
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/projects/{project.slug}/settings/")
    page.locator(f"#target-{target.pk}").get_by_role("button", name="Test connection").click()
    result = page.locator(f"#test-result-{target.pk} p")
    result.wait_for()
    assert "could not connect to staging (127.0.0.1:1)" in result.inner_text()
    assert "pw-in-url" not in page.content()
    assert page.url.endswith("/settings/")
    screenshot(page, "project-settings-lead")
    assert page.csp.violations == []
