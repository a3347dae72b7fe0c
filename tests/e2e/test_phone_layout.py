"""The shell's pages on a phone (390 x 844), in Chromium: nothing runs off the screen.

What a lead saw on a phone: the members table's *Remove* column cut off at the screen's
edge; on the environments page a pending file's name running out of its card and the
releases matrix shouting the commit in capitals ("4F2C9E1B"), production listed before
staging; a backup's page and the operators' page wider than the screen (a long file name,
the PORTAL_TARGET_VARS line), so the whole page scrolled sideways; the backups list's
values and a revoked token's date cut off on the right; the webhooks' events squeezed to a
letter a line; the person's menu opened over the open navigation menu; and from 801 to
about 1000 px the top bar's links wrapped to a second line.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from checklists.services.migrations import release_upload_archive
from checklists.services.releases import release_create
from migrations_ops.models import BackupManifest, Job
from release_portal.accounts.models import Membership
from tests.e2e import world as e2e_world
from tests.e2e.conftest import login, watched_page
from tests.factories import TargetFactory, UserFactory, published_runbook

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
LONG_FILE = "supabase/migrations/20250201090000_add_member_phone_numbers_and_their_indexes.sql"


@pytest.fixture
def phone(browser):
    with watched_page(browser, PHONE) as page:
        yield page


def page_width(page) -> int:
    """How wide the document is: wider than the screen means the page scrolls sideways."""
    return page.evaluate("document.documentElement.scrollWidth")


def inside_screen(locator) -> bool:
    box = locator.bounding_box()
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]


@pytest.fixture
def world(project, personas):
    lead = personas["platform_lead"]
    published_runbook(project)
    # Made production first: the page still lists them as a release reaches them.
    production = TargetFactory(project=project, name="production", kind="production",
                               url_env_var="PHONE_PRODUCTION_URL")  # fmt: skip
    staging = TargetFactory(project=project, name="staging", kind="staging",
                            url_env_var="PHONE_STAGING_URL")  # fmt: skip
    release = release_create(project=project, title="Add member phone numbers", owner=lead,
                             commit_sha="4f2c9e1b" + "0" * 32, created_by=lead)  # fmt: skip
    now = timezone.now()
    Job.objects.create(
        project=project, release=release, target=staging, kind="pending", state="succeeded",
        finished_at=now - timedelta(minutes=5),
        result={"applied": ["20250101000000", "20250115000000"],
                "newest_applied": "20250115000000", "pending": [{"filename": LONG_FILE}]},
    )  # fmt: skip
    backup = BackupManifest.objects.create(
        project=project, release=release, target=production, schemas=["app", "public"],
        location="/nonexistent", file_name="20261206T140824Z_pre_migration_before_release.sql",
        file_key="x.sql", manifest_key="x.sql.manifest.json", sha256="a" * 64, size=8,
        started_at=now, finished_at=now, verify_state="passed", verified_at=now,
    )  # fmt: skip
    return {"release": release, "backup": backup}


def test_the_members_page_keeps_every_column_on_the_screen(phone, live_server, world, password):
    login(phone, live_server, "lead", password)
    phone.goto(f"{live_server.url}/projects/ibimina/members/")
    row = phone.locator("main table tbody tr", has_text="sre@")
    remove = row.get_by_role("button", name="Remove sre as SRE / on-call")
    assert inside_screen(remove)
    assert inside_screen(row.get_by_role("button", name="Change"))
    assert page_width(phone) <= PHONE["width"]
    # One tap on a phone removed a role at once: it asks first, and "no" keeps it.
    questions = []
    phone.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    remove.click()
    assert questions == ["Remove sre as SRE / on-call?"]
    phone.get_by_role("button", name="Remove sre as SRE / on-call").wait_for()
    assert Membership.objects.filter(user__username="sre").exists()
    assert phone.csp.violations == []


def test_a_pending_invitations_buttons_stay_on_the_screen(
    phone, live_server, world, password, project, personas
):
    """What the lead saw on a phone: a pending invitation's *Revoke* cut off at the card's
    edge (the buttons were kept on one line beside the address)."""
    from release_portal.accounts.services import member_invite

    member_invite(project=project, email="quinn.longname@example.com", role="qa_lead",
                  invited_by=personas["platform_lead"], base_url=live_server.url)  # fmt: skip
    login(phone, live_server, "lead", password)
    phone.goto(f"{live_server.url}/projects/ibimina/members/")
    row = phone.locator("#pending-invitations tbody tr", has_text="quinn.longname@")
    for name in ("Resend", "Revoke"):
        button = row.get_by_role("button", name=name)
        assert inside_screen(button), name
        within_card = (
            "b => b.getBoundingClientRect().right <= b.closest('.card')"
            ".getBoundingClientRect().right"
        )
        assert button.evaluate(within_card), name
    assert page_width(phone) <= PHONE["width"]
    assert phone.csp.violations == []


def test_the_environments_page_fits_a_phone_and_reads_staging_first(
    phone, live_server, world, password
):
    login(phone, live_server, "lead", password)
    phone.goto(f"{live_server.url}/projects/ibimina/environments/")
    cards = phone.locator(".env-card")
    assert [cards.nth(i).get_attribute("data-target") for i in range(cards.count())] == [
        "staging",
        "production",
    ]
    migrations = cards.first.locator("td").first
    assert LONG_FILE in migrations.inner_text()
    for i in range(cards.count()):
        assert cards.nth(i).evaluate("card => card.scrollWidth <= card.clientWidth")
        for cell in cards.nth(i).locator("td").all():
            assert inside_screen(cell)
    assert page_width(phone) <= PHONE["width"]
    # The commit reads as written (innerText applies text-transform).
    row = phone.locator("#release-matrix tbody th").first
    assert "4f2c9e1b" in row.inner_text()
    assert [h.inner_text() for h in phone.locator("#release-matrix thead th").all()][1:] == [
        "STAGING",
        "PRODUCTION",
    ]
    assert phone.csp.violations == []


def test_a_backup_with_a_long_name_does_not_widen_the_page(phone, live_server, world, password):
    login(phone, live_server, "lead", password)
    phone.goto(f"{live_server.url}/backups/{world['backup'].pk}/")
    phone.get_by_role("heading", level=1).wait_for()
    assert page_width(phone) <= PHONE["width"]


def test_the_backups_list_shows_each_value_whole(phone, live_server, world, password):
    """Stacked rows (the phone's form of a table) were as wide as the longest file name:
    every value on the right was cut at the card's edge ("Verification faile", "14:08 U")."""
    login(phone, live_server, "lead", password)
    phone.goto(f"{live_server.url}/backups/")
    row = phone.locator("main table tbody tr").first
    for cell in row.locator("td").all():
        assert inside_screen(cell)
        assert cell.evaluate("td => td.scrollWidth <= td.clientWidth")
    assert inside_screen(row.get_by_text("Verified", exact=True).last)
    assert page_width(phone) <= PHONE["width"]


def test_the_tokens_table_shows_each_token_whole(phone, live_server, world, password, project):
    """The tokens table ran past the card: a revoked token's "revoked 2026-…" was cut off."""
    from release_portal.api.tokens import token_create, token_revoke

    lead = Membership.objects.get(user__username="lead").user
    token_create(project=project, name="github-actions-main", scopes=["read", "report"],
                 user=lead)  # fmt: skip
    old = token_create(project=project, name="old-ci", scopes=["read"], user=lead)
    token_revoke(token=old.token, user=lead)
    login(phone, live_server, "lead", password)
    phone.goto(f"{live_server.url}/projects/ibimina/tokens/")
    for row in phone.locator("main table tbody tr").all():
        for cell in row.locator("td").all():
            assert inside_screen(cell)
            assert cell.evaluate("td => td.scrollWidth <= td.clientWidth")
    assert inside_screen(phone.get_by_text("revoked", exact=False).first)
    assert inside_screen(phone.get_by_role("button", name="Revoke"))
    assert page_width(phone) <= PHONE["width"]


def test_the_webhooks_table_shows_each_webhook_whole(phone, live_server, world, password, project):
    """The webhooks table squeezed its Events column to a letter a line ("b d g i r …") and
    ran its State column off the card: a phone now stacks each webhook, as the tokens do."""
    from release_portal.webhooks.models import Webhook

    Webhook.objects.create(
        project=project, name="ops-alerts", url="https://hooks.example.com/release-portal?k=1",
        events=["backup.verified", "deploy.failed", "gate.break_glass", "job.failed",
                "monitoring.alert", "release.approved", "rollback.failed", "signoff.stale"],
    )  # fmt: skip
    login(phone, live_server, "lead", password)
    phone.goto(f"{live_server.url}/projects/ibimina/webhooks/")
    table = phone.locator("main table").first  # the webhooks; the delivery log follows
    cells = table.locator("tbody tr").first.locator("td").all()
    assert len(cells) == 5
    for cell in cells:
        assert inside_screen(cell)
        assert cell.evaluate("td => td.scrollWidth <= td.clientWidth")
    events = table.get_by_text("backup.verified", exact=False)
    assert events.bounding_box()["width"] > 150  # words on a line, not a letter
    assert inside_screen(table.get_by_text("enabled", exact=True))
    assert page_width(phone) <= PHONE["width"]


def test_the_operators_answer_fits_a_phone(phone, live_server, db, password):
    UserFactory(username="ops", is_superuser=True, is_staff=True)
    login(phone, live_server, "ops", password)
    phone.goto(f"{live_server.url}/operators/projects/new")
    phone.get_by_label("Name").fill("Payments platform")
    phone.get_by_label("Slug").fill("payments-platform")
    phone.get_by_label("First platform lead's email").fill("ana@example.com")
    phone.get_by_role("button", name="Create the project and invite its lead").click()
    phone.locator("#project-created").wait_for()
    assert "_STAGING_DATABASE_URL" in phone.locator("#project-created").inner_text()
    assert page_width(phone) <= PHONE["width"]
    assert phone.csp.violations == []


def overlap(a, b) -> bool:
    one, two = a.bounding_box(), b.bounding_box()
    return bool(one and two) and not (
        one["x"] + one["width"] <= two["x"] or two["x"] + two["width"] <= one["x"]
        or one["y"] + one["height"] <= two["y"] or two["y"] + two["height"] <= one["y"]
    )  # fmt: skip


def test_one_top_bar_menu_is_open_at_a_time(phone, live_server, world, password):
    """Opening the person's menu with the navigation menu open drew one over the other."""
    login(phone, live_server, "lead", password)
    nav, burger = phone.locator("#main-nav"), phone.locator("label.nav-burger")
    person, body = phone.locator("details.menu"), phone.locator(".menu-body")
    burger.click()
    expect(nav).to_be_visible()
    person.locator("summary").click()
    expect(body).to_be_visible()
    expect(nav).to_be_hidden()
    burger.click()
    expect(nav).to_be_visible()
    expect(body).to_be_hidden()
    assert not overlap(nav, person.locator("summary"))
    person.locator("summary").click()
    expect(nav).to_be_hidden()
    assert phone.csp.violations == []


def test_the_top_bar_keeps_one_line_at_every_width(browser, live_server, db, password):
    """From 801 to about 1000 px the links wrapped under the brand. Below the width where
    they fit the navigation folds into the menu; above it brand, links and the person's
    menu share one line, a long user name included (cut, with the whole name as its title)."""
    UserFactory(username="alexandra.de-souza-martins")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        login(page, live_server, "alexandra.de-souza-martins", password)
        page.locator(".brand").wait_for()
        links = page.locator("#main-nav a")
        for width in (801, 880, 960, 1000, 1040, 1041, 1100, 1280, 1920):
            page.set_viewport_size({"width": width, "height": 800})
            burger = page.locator("label.nav-burger")
            shown = [page.locator(".brand"), page.locator(".who")]
            if burger.is_visible():
                expect(page.locator("#main-nav")).to_be_hidden()
                shown.append(burger)
            else:
                tops = {round(links.nth(i).bounding_box()["y"]) for i in range(links.count())}
                assert len(tops) == 1, f"{width}px: the links take {len(tops)} lines"
                shown.append(page.locator("#main-nav"))
            boxes = [item.bounding_box() for item in shown]
            bar = page.locator(".topbar").bounding_box()
            for box in boxes:  # each item on the bar's one line, none pushed below
                assert box["y"] + box["height"] <= bar["y"] + bar["height"], width
                assert box["y"] < boxes[0]["y"] + boxes[0]["height"], width
            assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert width >= 1041 and not page.locator("label.nav-burger").is_visible()
        page.set_viewport_size({"width": 1000, "height": 800})
        assert page.locator("label.nav-burger").is_visible()
        assert page.locator(".who-name").get_attribute("title") == "alexandra.de-souza-martins"
    finally:
        context.close()


@pytest.fixture
def staging_url(monkeypatch):
    with e2e_world.staging_database() as url:
        monkeypatch.setenv(e2e_world.STAGING_ENV, url)
        yield url


def test_preparing_a_rollback_plan_keeps_its_save_button_on_the_screen(
    phone, live_server, project, personas, password, staging_url
):
    """The plan's "Save plan (evidence for “Rollback commands prepared”)" kept to one line
    and ran 150 px past a phone's edge, so the page scrolled sideways to reach it."""
    target = e2e_world.configure_project(project)
    published_runbook(project)
    lead = personas["platform_lead"]
    release = release_create(project=project, title="Add member phone numbers", owner=lead,
                             commit_sha="4f2c9e1b" + "0" * 32, created_by=lead)  # fmt: skip
    release_upload_archive(release=release, data=e2e_world.demo_zip(), filename="s.zip",
                           actor=lead)  # fmt: skip
    now = timezone.now()
    BackupManifest.objects.create(  # what was there before the release: the demo's two
        project=project, release=release, target=target, schemas=["app", "public"],
        location="/nonexistent", file_name="20261206T140824Z_pre_migration.sql",
        file_key="x.sql", manifest_key="x.sql.manifest.json", sha256="a" * 64, size=8,
        applied_versions=["20250101000000", "20250115000000"], started_at=now,
        finished_at=now, verify_state="passed", verified_at=now,
    )  # fmt: skip
    login(phone, live_server, "sre", password)
    phone.goto(f"{live_server.url}/releases/{release.pk}/rollback/?target={target.pk}")
    save = phone.get_by_role("button", name=re.compile("Save plan"))
    expect(save).to_be_visible()
    assert inside_screen(save)
    assert page_width(phone) <= PHONE["width"]
    assert phone.csp.violations == []
