"""The release page left open while things go wrong around it: the session ends in another
tab, the portal stops answering its poll, the migrations change under an open form. Each
is said in place, and the page follows again once it can."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from checklists.models import ChecklistItem
from checklists.services.items import item_mark_not_applicable
from checklists.services.migrations import release_upload_archive
from tests.e2e import test_release_page as release_page
from tests.e2e.test_release_page import (
    PANELS,
    open_page,
    panels_after_reload,
    tickable,
)
from tests.factories import DEMO_MIGRATIONS, supabase_archive
from tests.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

release = release_page.release  # the release page's fixture: a release with two migrations


def test_a_session_ended_in_another_tab_says_sign_in_again_in_place(page, live_server, release):
    """The tick was answered with the sign-in page, which htmx swapped into the item (and
    the analysis card's refresh into that card); the poll fell silent."""
    target = tickable(release)
    open_page(page, live_server, release, "releng")
    other = page.context.new_page()
    other.goto(f"{live_server.url}/releases/{release.pk}/")
    # Signing out from the person's menu there.
    other.locator("form[action='/accounts/logout/']").evaluate("f => f.requestSubmit()")
    other.wait_for_url("**/accounts/login/**")
    # The poll notices within three seconds and says how to get back.
    note = page.locator("#live-problem")
    note.wait_for(timeout=3_000)
    assert "Your session has ended" in note.inner_text()
    page.locator(f"#item-{target.pk}").get_by_role("button", name="Tick").click()
    message = page.locator(f"#item-{target.pk} .panel-error")
    message.wait_for()
    assert "Sign in again" in message.inner_text()
    link = message.get_by_role("link", name="Sign in again")
    href = link.get_attribute("href") or ""
    assert unquote(href) == f"/accounts/login/?next=/releases/{release.pk}/"
    assert page.locator("#release-live input[name=username]").count() == 0
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    assert page.csp.violations == []
    page.screenshot(path="/tmp/live-page-signed-out.png", full_page=True)


def test_a_poll_that_fails_says_so_and_the_page_follows_again(page, live_server, release, personas):
    """A portal answering 500 (or not at all) left the page silently out of date."""
    page.clock.install()  # the page's timers, which the test holds still below
    open_page(page, live_server, release, "qa")
    polls: list[str] = []
    ended: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if "/revision" in r.url else None)
    for event in ("requestfinished", "requestfailed"):
        page.on(event, lambda r: ended.append(r.url) if "/revision" in r.url else None)
    page.route("**/revision?*", lambda route: route.fulfill(status=500, body="down"))
    note = page.locator("#live-problem")
    note.wait_for(timeout=4_000)
    assert "Live updates paused (the portal answered 500)" in note.inner_text()
    page.unroute("**/revision?*")
    page.route("**/revision?*", lambda route: route.abort())
    note.filter(has_text="could not be reached").wait_for(timeout=4_000)
    # No runaway loop: a failed poll does not poll again; the next comes on the page's
    # 1.5 s timer. With the page's clock stopped, 15 s of its time sends ten, not more.
    page.clock.pause_at(page.evaluate("Date.now()") / 1000 + 0.1)  # in seconds

    def settled() -> int | None:
        """How many polls were sent, once each has ended (Playwright's routes and events
        run while the test calls it)."""
        page.wait_for_timeout(50)
        return len(polls) if len(ended) == len(polls) else None

    before = wait_until(settled, seconds=5, what="the polls sent to end")
    page.clock.run_for(15_000)
    wait_until(lambda: (settled() or 0) >= before + 10, seconds=5, what="ten polls to end")
    page.wait_for_timeout(300)  # room for a poll a failure would send at once
    assert len(polls) == before + 10, polls[before:]
    page.unroute("**/revision?*")
    page.clock.resume()
    # Back: another person's change shows within three seconds, and the note goes.
    item = release.items.filter(step__is_signoff=False, step__requires_evidence=False).first()
    item_mark_not_applicable(item=item, user=personas["platform_lead"], reason="elsewhere")
    page.locator(f"#item-{item.pk}.item-not_applicable").wait_for(timeout=3_000)
    note.wait_for(state="detached", timeout=2_000)
    reloaded = panels_after_reload(page, live_server, release)
    wait_until(lambda: page.evaluate(PANELS) == reloaded, seconds=3,
               what="the panels to match a reload")  # fmt: skip


def test_a_tick_form_open_while_new_migrations_arrive_ticks_nothing(
    page, live_server, release, personas
):
    """The engineer uploaded new migrations while the release engineer's tick form was
    open: the form gave no sign, and the tick went through for migrations never looked at."""
    target = tickable(release)
    open_page(page, live_server, release, "releng")
    page.locator(f"#item-{target.pk}").get_by_text("Comment or evidence").click()
    page.locator(f"#comment-{target.pk}").fill("lint and tests green")
    newer = {**DEMO_MIGRATIONS, "migrations/20250103000000_more.sql": "select 1;\n"}
    release_upload_archive(release=release, data=supabase_archive(newer), filename="s.zip",
                           actor=personas["release_engineer"])  # fmt: skip
    page.locator("#files").get_by_text("20250103000000_more").wait_for(timeout=3_000)
    notice = page.locator(f"#item-{target.pk} .changed-notice")
    notice.wait_for(timeout=3_000)
    assert page.locator(f"#comment-{target.pk}").input_value() == "lint and tests green"
    page.locator(f"#item-{target.pk}").get_by_role("button", name="Tick").click()
    error = page.locator(f"#item-{target.pk} .msg-error")
    error.wait_for()
    assert "Nothing was ticked: the migrations changed since you opened this page" in (
        error.inner_text()
    )
    assert error.get_by_role("link", name="See the line diff of the files").is_visible()
    assert ChecklistItem.objects.get(pk=target.pk).state == "open"
    # The item answered with its fresh form: a tick now is for the migrations on screen.
    page.locator(f"#item-{target.pk}").get_by_role("button", name="Tick").click()
    page.locator(f"#item-{target.pk}.item-done").wait_for()
    reloaded = panels_after_reload(page, live_server, release)
    wait_until(lambda: page.evaluate(PANELS) == reloaded, seconds=3,
               what="the panels to match a reload")  # fmt: skip
    assert page.csp.violations == []


def test_who_won_a_race_for_a_tick_stays_said_through_the_refresh(
    page, live_server, release, personas
):
    """Two people ticked at once: the loser's item said "Already done by lead at ...", and
    the refresh that followed (the winner's tick moved the revision) wiped it within a
    second and a half, leaving a tick the loser could take for their own."""
    from checklists.services.items import item_tick

    target = tickable(release)
    open_page(page, live_server, release, "releng")
    # The poll sees nothing new until the loser has clicked: then the race is as it is.
    page.route("**/revision?*", lambda route: route.fulfill(status=204))
    item_tick(item=target, user=personas["platform_lead"])
    page.locator(f"#item-{target.pk}").get_by_role("button", name="Tick").click()
    said = page.locator(f"#item-{target.pk} .msg-error")
    said.wait_for()
    assert "Already done by lead at" in said.inner_text()
    with page.expect_response(lambda r: bool(r.request.headers.get("x-portal-refresh"))):
        page.unroute("**/revision?*")
    page.wait_for_timeout(200)  # the refresh's swap
    assert "Already done by lead at" in said.inner_text()
    assert page.locator(f"#item-{target.pk}.item-done").count() == 1
    assert page.locator(f"#item-{target.pk} .msg-error").count() == 1
    assert page.csp.violations == []
