"""The release page in Chromium: one truth after every change, errors in place, the
phone menu. Live server, real PostgreSQL; outside changes are written to the database by
the test (another person's tick, a worker's finished job) while the page is open."""

from __future__ import annotations

import re
import time

import pytest
from django.db import transaction
from playwright.sync_api import expect

from checklists.models import Release
from checklists.services import items as item_services
from checklists.services.items import item_mark_not_applicable, item_untick
from checklists.services.migrations import release_upload_archive
from checklists.services.releases import release_create
from migrations_ops.jobs.dispatch import record_job_end
from migrations_ops.models import Job, Target
from release_portal.accounts.models import Membership
from tests.e2e.conftest import login, screenshot
from tests.factories import (
    DEMO_MIGRATIONS,
    PASSWORD,
    published_runbook,
    settle_checklist,
    supabase_archive,
)
from tests.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PANELS = """() => Array.from(document.querySelectorAll('#release-live [data-live][id]'))
  .map(e => [e.id, e.innerText.replace(/\\s+/g, ' ').trim()])"""


@pytest.fixture
def release(project, personas):
    published_runbook(project)
    lead = personas["platform_lead"]
    releng = personas["release_engineer"]
    release = release_create(project=project, title="Members table", owner=lead,
                             commit_sha="a" * 40, created_by=releng)  # fmt: skip
    release_upload_archive(release=release, data=supabase_archive(DEMO_MIGRATIONS),
                           filename="s.zip", actor=releng)  # fmt: skip
    release.refresh_from_db()
    return release


def tickable(release):
    """An item the release engineer ticks without evidence."""
    return release.items.filter(
        step__owner="release_engineer", step__requires_evidence=False, step__is_signoff=False
    ).first()


def screenshot_path(name):
    from tests.e2e.conftest import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"


def open_page(page, live_server, release, username):
    login(page, live_server, username, PASSWORD)
    page.goto(f"{live_server.url}/releases/{release.pk}/")
    page.locator("#release-live").wait_for()


def panels_after_reload(page, live_server, release):
    other = page.context.new_page()
    other.goto(f"{live_server.url}/releases/{release.pk}/")
    found = other.evaluate(PANELS)
    other.close()
    return found


def test_a_tick_in_place_leaves_the_page_as_a_reload_shows_it(page, live_server, release):
    target = tickable(release)
    open_page(page, live_server, release, "releng")
    before = dict(page.evaluate(PANELS))
    refreshes = []
    page.on(
        "request",
        lambda r: refreshes.append(r.url) if r.headers.get("x-portal-refresh") else None,
    )
    page.locator(f"#item-{target.pk}").get_by_role("button", name="Tick").click()
    page.locator(f"#item-{target.pk}.item-done").wait_for()
    # Every panel that depends on the tick follows: counters, gate, sign-off, timeline.
    reloaded = dict(panels_after_reload(page, live_server, release))
    assert reloaded["checklist-head"] != before["checklist-head"]
    wait_until(lambda: dict(page.evaluate(PANELS)) == reloaded, seconds=3,
               what="the panels to match a reload")  # fmt: skip
    # One refresh for one change (the answer's "release-changed"), not a second one from
    # a poll racing it.
    page.wait_for_timeout(500)
    assert len(refreshes) == 1, refreshes
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    assert page.csp.violations == []


def test_other_peoples_changes_and_finished_jobs_appear_within_three_seconds(
    page, live_server, release, personas
):
    open_page(page, live_server, release, "qa")
    head = page.locator("#checklist-head").inner_text()
    # Another person settles an item.
    item = (
        release.items.filter(step__is_signoff=False, step__requires_evidence=False)
        .select_related("step")
        .first()
    )
    item_mark_not_applicable(item=item, user=personas["platform_lead"], reason="elsewhere")
    page.locator(f"#item-{item.pk}.item-not_applicable").wait_for(timeout=3_000)
    assert page.locator("#checklist-head").inner_text() != head
    # A worker finishes a job: its evidence and its row appear without a reload.
    job = Job.objects.create(project=release.project, release=release, kind="order",
                             state="succeeded", ok=True,
                             summary="Order checked by the worker")  # fmt: skip
    with transaction.atomic():
        record_job_end(job, actor=None)
    # Both within the same three seconds: the second wait gets what the first left.
    deadline = time.monotonic() + 3
    page.locator("#checklist").get_by_text("Order checked by the worker").first.wait_for(
        timeout=3_000
    )
    left_ms = max(1, int((deadline - time.monotonic()) * 1000))
    page.locator("#jobs-panel").get_by_text(f"#{job.pk}").wait_for(timeout=left_ms)
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    assert page.csp.violations == []


def settled(release, lead):
    """Every item settled: plain ones not applicable, evidence-required ones by waiver."""
    settle_checklist(release, lead, reason="settled for the page test")


def test_an_open_sign_off_form_is_never_swapped_under_the_reader(
    page, live_server, release, personas
):
    lead = personas["platform_lead"]
    settled(release, lead)
    open_page(page, live_server, release, "lead")
    page.get_by_label("Your password, to sign as Release owner").fill("half-typed")
    form_html = page.locator("#signoffs form").inner_html()
    # Meanwhile someone reopens an item: the panel would lose its form.
    item = release.items.filter(step__is_signoff=False, step__requires_evidence=False).first()
    item.refresh_from_db()
    item_untick(item=item, user=lead, reason="not so fast", expected_revision=item.revision)
    notice = page.locator("#signoffs .changed-notice")
    notice.wait_for(timeout=3_000)
    assert "Changed since you opened this form" in notice.inner_text()
    assert notice.get_by_role("link", name="See what changed").get_attribute("href")
    assert (
        page.get_by_label("Your password, to sign as Release owner").input_value() == "half-typed"
    )
    assert page.locator("#signoffs form").inner_html().count('name="kind"') == form_html.count(
        'name="kind"'
    )
    # The other panels did refresh.
    page.locator(f"#item-{item.pk}.item-open").wait_for(timeout=3_000)


def test_signing_off_shows_a_wrong_password_in_view_and_then_drops_the_form(
    page, live_server, release, personas
):
    settled(release, personas["platform_lead"])
    page.set_viewport_size({"width": 1280, "height": 700})
    open_page(page, live_server, release, "lead")
    page.get_by_label("Your password, to sign as Release owner").fill("wrong password")
    page.get_by_role("button", name="Sign off").click()
    error = page.locator("#signoffs [role=alert]")
    error.wait_for()
    assert error.is_visible()
    box = error.bounding_box()
    assert box is not None and 0 <= box["y"] <= 700, box
    assert "#signoffs" not in page.url
    page.get_by_label("Your password, to sign as Release owner").fill(PASSWORD)
    page.get_by_role("button", name="Sign off").click()
    page.locator("#page-alert").get_by_text("Signed off").wait_for()
    assert page.locator("#signoffs form").count() == 0
    page.locator("#release-state", has_text="Approved").wait_for(timeout=3_000)
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    assert Release.objects.get(pk=release.pk).state == "approved"
    assert page.csp.violations == []


@pytest.mark.parametrize("debug", [True, False], ids=["debug", "no-debug"])
def test_an_error_answer_shows_in_place_and_never_replaces_the_page(
    page, live_server, release, personas, settings, debug
):
    settings.DEBUG = debug
    target = tickable(release)
    open_page(page, live_server, release, "releng")
    # The release engineer loses their role while the page is open: the tick answers 404.
    Membership.objects.filter(user=personas["release_engineer"]).delete()
    page.locator(f"#item-{target.pk}").get_by_role("button", name="Tick").click()
    message = page.locator(".panel-error, #page-alert .msg-error").first
    message.wait_for()
    assert "No such release" in message.inner_text()
    assert page.locator("#release-live").count() == 1
    assert page.title().startswith("Members table")
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1


def test_a_form_error_fragment_swaps_in_place(page, live_server, release, personas):
    # A 4xx answer that is the panel itself (an invalid item form) replaces only the item.
    target = tickable(release)
    open_page(page, live_server, release, "releng")
    item = page.locator(f"#item-{target.pk}")
    # Someone else ticks it first: this tick answers 422 with the item and its error.
    tick = item.locator("form").first
    item_services.item_tick(item=target, user=personas["platform_lead"])
    tick.get_by_role("button", name="Tick").click()
    page.locator(f"#item-{target.pk} .msg-error").wait_for(timeout=3_000)
    assert "Already done" in page.locator(f"#item-{target.pk} .msg-error").inner_text()
    assert page.locator("#release-live").count() == 1


# The character before each line break inside the elements ``selector`` finds (a soft
# wrap: the next character's box starts on a lower line).
WRAPPED_AFTER = """(selector) => Array.from(document.querySelectorAll(selector)).flatMap(el => {
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  const chars = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.length; i++) {
      const range = document.createRange();
      range.setStart(node, i); range.setEnd(node, i + 1);
      chars.push([node.data[i], range.getBoundingClientRect().top]);
    }
  }
  const after = [];
  for (let i = 1; i < chars.length; i++) {
    if (chars[i][1] > chars[i - 1][1] + 2) after.push(chars[i - 1][0]);
  }
  return after;
})"""


def test_on_a_phone_the_navigation_folds_into_a_menu(page, live_server, release):
    page.set_viewport_size({"width": 375, "height": 812})
    open_page(page, live_server, release, "qa")
    nav = page.locator("#main-nav")
    assert not nav.is_visible()
    menu = page.locator("label.nav-burger", has_text="Menu")
    assert menu.is_visible()
    menu.click()
    nav.get_by_role("link", name="Releases", exact=True).wait_for()
    assert nav.is_visible()
    page.screenshot(path=str(screenshot_path("release-page-phone-menu")))
    # The files table stacks each file: nothing of it is cut off or behind a sideways
    # scroll, and a file name wraps at its words (after "_" or "/"), never inside one.
    for box in ("#files .table-wrap", "#files table"):  # on a phone, tables scroll
        assert page.locator(box).evaluate("b => b.scrollWidth <= b.clientWidth"), box
    breaks = page.evaluate(WRAPPED_AFTER, "#files .files-table tbody td")
    assert set(breaks) <= {"_", "/", " "}, breaks
    # Nothing wider than the phone: the page does not scroll sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert page.csp.violations == []


def test_wide_screens_use_the_width(page, live_server, release, personas):
    # Some work done, as a release looks midway (the README's screenshot).
    lead = personas["platform_lead"]
    for i in release.items.filter(step__is_signoff=False, step__requires_evidence=False)[:5]:
        item_mark_not_applicable(item=i, user=lead, reason="covered by the app's own CI")
    job = Job.objects.create(project=release.project, release=release, kind="order",
                             state="succeeded", ok=True,
                             summary="3 files, chronological")  # fmt: skip
    with transaction.atomic():
        record_job_end(job, actor=None)
    page.set_viewport_size({"width": 1920, "height": 1000})
    open_page(page, live_server, release, "qa")
    width = page.evaluate("document.querySelector('#main').getBoundingClientRect().width")
    assert width > 1700
    # The files table shows its SHA and down-script columns inside its own box.
    table = page.locator("#files table")
    assert table.locator("th", has_text=re.compile("sha256", re.I)).is_visible()
    assert table.locator("th", has_text="Down script").is_visible()
    screenshot(page, "release-page-desktop")


@pytest.mark.parametrize("debug", [True, False], ids=["debug", "no-debug"])
def test_an_incident_step_refused_says_so_in_place(
    page, live_server, release, personas, settings, debug
):
    from migrations_ops.incidents.services import incident_maintenance, incident_open

    settings.DEBUG = debug
    target = Target.objects.create(project=release.project, name="production",
                                   kind="production", url_env_var="E2E_NOT_SET")  # fmt: skip
    incident = incident_open(release=release, target=target, user=personas["sre"],
                             title="Checkout fails", trigger="monitoring_alert")  # fmt: skip
    incident_maintenance(incident=incident, user=personas["sre"], on=True)
    login(page, live_server, "sre", PASSWORD)
    page.goto(f"{live_server.url}/incidents/{incident.pk}/")
    # No plan attached yet: "Run rollback" cannot start, and the step says why.
    expect(page.get_by_role("button", name="Run rollback")).to_be_disabled()
    expect(page.locator("#rollback-why")).to_have_text("Attach a rollback plan first (step 3).")
    # Closing while writes are frozen is refused: the answer goes into the incident's panel.
    page.get_by_label("Postmortem link").fill("https://wiki.example.com/postmortem")
    page.get_by_role("button", name="Close incident").click()
    page.locator("#incident-body").get_by_text("Turn maintenance mode off first").wait_for()
    # The page is still the styled page: the answer went into its panel, not the document.
    assert page.locator("header.topbar").count() == 1
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    assert page.csp.violations == []


def finished_job(release, kind, summary, **fields):
    """A job a worker just finished, ended as the worker ends it (evidence, change log)."""
    from django.utils import timezone

    job = Job.objects.create(project=release.project, release=release, kind=kind,
                             state="succeeded", ok=True, summary=summary,
                             finished_at=timezone.now(), **fields)  # fmt: skip
    with transaction.atomic():
        record_job_end(job, actor=None)
    return job


def test_what_this_release_does_follows_a_finished_risk_job(page, live_server, release):
    finished_job(release, "risk", "release risk low", result={"level": "low"})
    open_page(page, live_server, release, "qa")
    page.locator("#analysis-card").scroll_into_view_if_needed()
    page.locator("#analysis-level", has_text="risk low").wait_for()
    # A worker finishes a newer risk run (someone else started it): the card follows
    # within three seconds, as a reload would show it.
    newer = finished_job(release, "risk", "release risk high", result={"level": "high"})
    page.locator("#analysis-level", has_text="risk high").wait_for(timeout=3_000)
    page.locator(f"#analysis-card a[href='/jobs/{newer.pk}/']").first.wait_for()
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    assert page.csp.violations == []


def test_a_refresh_keeps_what_the_reader_unfolded(page, live_server, release, personas):
    # Two runs of the order check: the item shows the newest, the older behind a toggle;
    # the timeline has job ends, hidden unless asked for.
    finished_job(release, "order", "first order run")
    finished_job(release, "order", "second order run")
    open_page(page, live_server, release, "qa")
    older = page.locator("details.older-evidence").first
    older.locator("summary").click()
    page.locator("#timeline-jobs").check()
    job_row = page.locator("#timeline li.ev-job").first
    assert job_row.is_visible()
    # Another person settles an item: the panels refresh, the reader's view stays.
    item = release.items.filter(step__is_signoff=False, step__requires_evidence=False).first()
    item_mark_not_applicable(item=item, user=personas["platform_lead"], reason="elsewhere")
    page.locator(f"#item-{item.pk}.item-not_applicable").wait_for(timeout=3_000)
    assert page.locator("#timeline-jobs").is_checked()
    assert page.locator("#timeline li.ev-job").first.is_visible()
    assert page.locator("details.older-evidence").first.evaluate("e => e.open")
    assert page.locator("details.older-evidence").first.get_by_text("first order run").is_visible()


def test_a_check_without_proof_does_not_read_as_passed(page, live_server, release):
    # The order check has no result for these migrations: its line must not wear the
    # green of a done step (the colour of the check marks, --ok: #17703d).
    item = release.items.get(step__evidence_kinds__contains=["job:order"])
    open_page(page, live_server, release, "releng")
    line = page.locator(f"#item-{item.pk} p", has_text="No proof yet")
    assert "no passing check for these migrations yet" in line.inner_text()
    assert line.evaluate("e => getComputedStyle(e).color") != "rgb(23, 112, 61)"


def test_a_sign_off_form_on_screen_keeps_the_digest_its_reader_saw(
    page, live_server, release, personas
):
    settled(release, personas["platform_lead"])
    open_page(page, live_server, release, "lead")
    form = page.locator("#signoffs form.signoff-form")
    seen = form.locator("input[name=seen_digest]").input_value()
    # The reader has not typed yet; a worker's job ends and its evidence changes the digest.
    finished_job(release, "order", "order checked again")
    release.refresh_from_db()
    assert release.digest != seen
    page.locator("#checklist").get_by_text("order checked again").first.wait_for(
        state="attached", timeout=3_000
    )
    notice = page.locator("#signoffs .changed-notice")
    notice.wait_for(timeout=3_000)
    assert notice.get_by_role("link", name="See what changed").get_attribute("href")
    assert form.locator("input[name=seen_digest]").input_value() == seen
    # Signing what they saw is refused with what changed, in place.
    page.get_by_label("Your password, to sign as Release owner").fill(PASSWORD)
    page.get_by_role("button", name="Sign off").click()
    page.locator("#changed-since").wait_for()
    assert Release.objects.get(pk=release.pk).state != "approved"
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1


LONG_SUMMARY = (
    "fixtures match: 3 table(s) with RLS, all mentioned by tests; 4 polic(ies), 4 not "
    "mentioned by name; 2 seed file(s) read, 0 rows refused by the policies"
)


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)], ids=["1280", "1920"])
def test_the_jobs_table_reads_a_job_per_line(page, live_server, release, size):
    """At 1280 px the Job column wrapped over four or five lines ("Release risk: locks,
    rewrites, data loss #11") and a summary over five. The kind's short name stays on one
    line (its full name is the link's title), a summary takes at most two lines (whole in
    its title), and every column stays on screen."""
    for kind in ("risk", "fixtures", "access", "commands", "pending"):
        Job.objects.create(project=release.project, release=release, kind=kind,
                           state="succeeded", ok=True, summary=LONG_SUMMARY)  # fmt: skip
    page.set_viewport_size({"width": size[0], "height": size[1]})
    open_page(page, live_server, release, "releng")
    table = page.locator("#jobs-table table")
    heads = [h.inner_text().strip().lower() for h in table.locator("thead th").all()]
    assert heads == ["job", "state", "target", "started", "duration", "summary"]
    wrap = page.locator("#jobs-table")
    assert wrap.evaluate("w => w.scrollWidth <= w.clientWidth")  # nothing cut at the right
    rows = table.locator("tbody tr").all()
    assert len(rows) == 5
    first = rows[0].locator("td").first.locator("a")
    line = float(first.evaluate("a => getComputedStyle(a).lineHeight").removesuffix("px"))
    for row in rows:
        job, summary = row.locator("td").first.locator("a"), row.locator("td").last
        assert job.bounding_box()["height"] < 1.5 * line, job.inner_text()
        assert summary.bounding_box()["height"] < 3.5 * line, job.inner_text()
        assert summary.locator("[title]").get_attribute("title") == LONG_SUMMARY
    risk = table.locator("a[title^='Release risk']")
    assert risk.inner_text().startswith("Risk #")
    assert risk.get_attribute("title") == "Release risk: locks, rewrites, data loss"
    assert page.csp.violations == []


def test_a_waiver_approval_on_screen_keeps_the_digest_its_reader_saw(
    page, live_server, release, personas
):
    """The release page's refresh swapped in a new digest under "Approve waiver", so the
    lead approved content they had not seen. The approval form keeps the digest its reader
    saw, says "Changed since you opened this form" with a link to what changed, and an
    approval of what they saw is refused with what changed, as the sign-off form does."""
    from checklists.services.waivers import waiver_ask
    from tests.checklists.proof import PENDING
    from tests.checklists.proof import finished_job as check_job
    from tests.factories import current_digest

    check_job(release, "pending", "failed")
    target = release.items.get(step__key=PENDING)
    waiver = waiver_ask(item=target, user=personas["release_engineer"],
                        reason="Dashboard shows a known stuck row",
                        seen_digest=current_digest(release))  # fmt: skip
    open_page(page, live_server, release, "lead")
    approve = page.get_by_role("button", name="Approve waiver")
    form = page.locator(f"#waiver-{waiver.pk} form", has=approve)
    seen = form.locator("input[name=seen_digest]").input_value()
    # The reader has not clicked yet; a worker's job ends and its evidence changes the digest.
    finished_job(release, "order", "order checked again")
    assert current_digest(release) != seen
    notice = page.locator(f"#waiver-{waiver.pk} .changed-notice")
    notice.wait_for(timeout=5_000)
    assert "Changed since you opened this form" in notice.inner_text()
    assert notice.get_by_role("link", name="See what changed").get_attribute("href")
    assert form.locator("input[name=seen_digest]").input_value() == seen
    # Approving what they saw is refused with what changed.
    form.get_by_role("button", name="Approve waiver").click()
    page.locator("#changed-since").wait_for()
    waiver.refresh_from_db()
    assert waiver.approved_by is None
    assert page.csp.violations == []


def test_a_form_held_in_one_item_leaves_the_rest_of_its_section_live(
    page, live_server, release, personas
):
    """A reader typing a comment under one item held back its whole checklist section:
    another person's change to the next item, and the section's count, waited until the
    reader sent or closed their form, while the checklist's head already said otherwise.
    The section now follows item by item around the held one; the held item says
    "Changed since you opened this form" only when it is the one that changed."""
    lead = personas["platform_lead"]
    plain = release.items.filter(step__requires_evidence=False, step__is_signoff=False)
    held = tickable(release)
    other = plain.filter(step__section=held.step.section).exclude(pk=held.pk).first()
    assert other is not None, "the runbook's sections changed: pick two items of one section"
    open_page(page, live_server, release, "releng")
    section_id = page.locator(f"#item-{held.pk}").evaluate("e => e.closest('details.section').id")
    summary = page.locator(f"#{section_id}-summary")
    count = summary.inner_text()
    page.locator(f"#item-{held.pk}").get_by_text("Comment or evidence").click()
    page.locator(f"#comment-{held.pk}").fill("half-typed")

    item_mark_not_applicable(item=other, user=lead, reason="done elsewhere")
    page.locator(f"#item-{other.pk}.item-not_applicable").wait_for(timeout=3_000)
    assert summary.inner_text() != count
    assert page.locator(f"#comment-{held.pk}").input_value() == "half-typed"
    assert page.locator(f"#item-{held.pk} .changed-notice").count() == 0

    # The held item itself changes: its form stays, and says so.
    held.refresh_from_db()
    item_mark_not_applicable(
        item=held, user=lead, reason="not needed", expected_revision=held.revision
    )
    notice = page.locator(f"#item-{held.pk} .changed-notice")
    notice.wait_for(timeout=3_000)
    assert "Changed since you opened this form" in notice.inner_text()
    assert page.locator(f"#comment-{held.pk}").input_value() == "half-typed"
    assert page.csp.violations == []
