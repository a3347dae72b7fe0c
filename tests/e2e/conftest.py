"""Headless Chromium through Playwright, against the live test server.

Debian's chromium (/usr/bin/chromium) is used: Playwright's own browser download does not
work offline. Screenshots land in tests/e2e/screenshots/.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from tests.services import need

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).parent / "screenshots"
# Flags from the machine notes: without the background-networking ones Chromium keeps
# trying to reach Google's hosts on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture
def browser(monkeypatch) -> Iterator[object]:
    # One Playwright per test: its sync API keeps an event loop running in this thread,
    # which must be gone before pytest-django flushes the database after the test. While
    # it runs, the ORM calls the test makes between browser steps are still synchronous.
    need("Chromium", Path(CHROMIUM).exists(), f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
        # With the loop running, Django's connections live in a context variable, not in
        # the thread: the test's ORM calls opened a connection pytest-django never sees.
        # Close it while the loop still runs, or it outlives the test database's drop.
        connections.close_all()


class CspWatcher:
    def __init__(self) -> None:
        self.violations: list[str] = []

    def __call__(self, message: object) -> None:
        text = getattr(message, "text", "")
        if "Content Security Policy" in text or "Content-Security-Policy" in text:
            self.violations.append(text)


@contextmanager
def watched_page(browser, viewport: dict[str, int]) -> Iterator[Any]:
    """A page of its own browser context at ``viewport``, its CSP violations collected
    (``page.csp.violations``)."""
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.csp = CspWatcher()
    page.on("console", page.csp)
    page.set_default_timeout(10_000)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def page(browser):
    with watched_page(browser, {"width": 1280, "height": 860}) as opened:
        yield opened


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def login(page, live_server, username: str, password: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
