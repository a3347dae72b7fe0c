import pytest

from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_the_api_docs_render_offline_under_the_csp(page, live_server):
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(f"{live_server.url}/api/docs")
    page.locator(".opblock").first.wait_for()
    assert page.locator(".opblock").count() >= 10
    page.locator(".opblock-summary-path", has_text="/gate").first.click()
    page.get_by_text("409 otherwise").first.wait_for()  # the operation expands
    assert [u for u in requested if not u.startswith(live_server.url)] == []
    assert page.csp.violations == []
    screenshot(page, "api-docs")
