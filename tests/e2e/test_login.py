import pytest

from tests.e2e.conftest import login, screenshot

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_the_qa_lead_signs_in_and_sees_the_dashboard(page, live_server, qa_lead, password):
    login(page, live_server, "qa", password)
    page.wait_for_url(f"{live_server.url}/")
    heading = page.get_by_role("heading", name="Dashboard")
    heading.wait_for()
    page.locator("main").get_by_text("QA lead").wait_for()
    # The stylesheet and htmx loaded under the CSP: the page is styled and htmx is there.
    assert page.evaluate("typeof window.htmx") == "object"
    background = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    assert background == "rgb(246, 247, 249)"
    path = screenshot(page, "dashboard-qa-lead")
    assert path.stat().st_size > 10_000
    assert page.csp.violations == []


@pytest.mark.django_db(transaction=True)
def test_a_wrong_password_shows_an_error(page, live_server, qa_lead):
    login(page, live_server, "qa", "not-the-password")
    page.get_by_role("alert").wait_for()  # the page answers with the error
    assert "/accounts/login/" in page.url
    assert page.csp.violations == []
