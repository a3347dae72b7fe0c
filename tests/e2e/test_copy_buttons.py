"""Copy buttons (a new API token, an invitation link, a hash) in Chromium.

What a lead saw with the portal on plain http at a host name: "Copy" beside a token shown
only once did nothing at all, since browsers give the clipboard only to secure pages.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# As on an http:// page that is not localhost: the browser offers no clipboard API.
NO_CLIPBOARD = "Object.defineProperty(Navigator.prototype, 'clipboard', {get: () => undefined});"


def new_token(page, live_server) -> str:
    page.goto(f"{live_server.url}/projects/ibimina/tokens/")
    page.get_by_label("Name").fill("github-actions-main")
    page.get_by_role("button", name="Create token").click()
    return page.locator("#new-token-value").inner_text()


def test_without_a_clipboard_copy_selects_the_token(page, live_server, platform_lead, password):
    page.add_init_script(NO_CLIPBOARD)
    login(page, live_server, "lead", password)
    value = new_token(page, live_server)
    assert value.startswith("rp_")
    button = page.locator("[data-copy='#new-token-value']")
    button.click()
    assert button.inner_text() == "Selected: copy it (Ctrl+C)"
    assert page.evaluate("window.getSelection().toString().trim()") == value
    assert page.csp.violations == []


def test_with_a_clipboard_copy_copies(page, live_server, platform_lead, password):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    login(page, live_server, "lead", password)
    value = new_token(page, live_server)
    button = page.locator("[data-copy='#new-token-value']")
    button.click()
    page.wait_for_function("b => b.textContent === 'Copied'", arg=button.element_handle())
    assert page.evaluate("navigator.clipboard.readText()") == value
