"""Sign-off binds to what the signer saw (issue 13, case 5): the form carries the release
digest its page showed; a release that changed since is refused with what changed. The
same for break-glass and waivers."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from checklists.models import GateOverride, SignOff
from checklists.services.migrations import release_upload_archive
from checklists.services.signoffs import signoff_give
from tests.checklists.conftest import item
from tests.factories import (
    DEMO_MIGRATIONS,
    PASSWORD,
    current_digest,
    second_lead,
    settle_checklist,
    supabase_archive,
)

PENDING = "review-supabase-dashboard-pending-failed"


def upload_changed(release, actor):
    files = dict(DEMO_MIGRATIONS)
    files["migrations/20250102000000_members.sql"] += "create index on app.members (name);\n"
    release_upload_archive(
        release=release, data=supabase_archive(files), filename="v2.zip", actor=actor
    )


def seen_digest(html: str) -> str:
    found = re.search(r'name="seen_digest" value="([0-9a-f]{64})"', html)
    assert found, "the form carries the digest the page showed"
    return found.group(1)


def test_a_bundle_uploaded_while_the_owners_page_was_open_is_not_signed_unseen(
    client, release_with_files, platform_lead, release_engineer
):
    release = release_with_files
    settle_checklist(release, platform_lead)
    client.force_login(platform_lead)
    page = client.get(reverse("release_detail", kwargs={"pk": release.pk})).content.decode()
    shown = seen_digest(page)
    assert shown == current_digest(release)
    # While the owner reads the page, a new bundle arrives and the checklist is settled again.
    upload_changed(release, release_engineer)
    settle_checklist(release, platform_lead)
    response = client.post(
        reverse("release_signoff", kwargs={"pk": release.pk}),
        {"kind": "release_owner", "password": PASSWORD, "seen_digest": shown},
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert "changed since you opened the page" in html
    assert "changed 20250102000000_members.sql" in html
    assert f'href="/releases/{release.pk}/changes/"' in html  # the line diff
    assert not SignOff.objects.exists()
    # Signing what the page shows now works.
    fresh = seen_digest(html)
    assert fresh == current_digest(release)
    response = client.post(
        reverse("release_signoff", kwargs={"pk": release.pk}),
        {"kind": "release_owner", "password": PASSWORD, "seen_digest": fresh},
    )
    assert response.status_code == 302
    assert SignOff.objects.get().digest == current_digest(release)


def test_the_signoff_form_without_a_digest_signs_nothing(client, release_with_files, platform_lead):
    settle_checklist(release_with_files, platform_lead)
    client.force_login(platform_lead)
    client.post(
        reverse("release_signoff", kwargs={"pk": release_with_files.pk}),
        {"kind": "release_owner", "password": PASSWORD},
    )
    assert not SignOff.objects.exists()


def test_the_service_refuses_another_digest_with_what_changed(
    release_with_files, platform_lead, release_engineer
):
    from checklists.services.errors import ChangedSinceOpened

    release = release_with_files
    settle_checklist(release, platform_lead)
    before = current_digest(release)
    upload_changed(release, release_engineer)
    settle_checklist(release, platform_lead)
    with pytest.raises(ChangedSinceOpened) as refused:
        signoff_give(
            release=release, user=platform_lead, kind="release_owner", password=PASSWORD,
            seen_digest=before,
        )  # fmt: skip
    assert refused.value.files_changed
    assert "changed 20250102000000_members.sql" in str(refused.value)


def test_break_glass_is_for_the_digest_the_lead_saw(
    client, release_with_files, platform_lead, release_engineer
):
    release = release_with_files
    client.force_login(platform_lead)
    page = client.get(reverse("release_gate", kwargs={"pk": release.pk})).content.decode()
    shown = seen_digest(page)
    upload_changed(release, release_engineer)
    response = client.post(
        reverse("break_glass", kwargs={"pk": release.pk}),
        {"reason": "Login outage: the hotfix must ship", "password": PASSWORD,
         "seen_digest": shown},
    )  # fmt: skip
    assert response.status_code == 400
    assert "changed since you opened the page" in response.content.decode()
    assert not GateOverride.objects.exists()


def test_a_waiver_is_asked_and_approved_for_the_digest_on_the_page(
    client, release_with_files, platform_lead, release_engineer, project
):
    release = release_with_files
    client.force_login(release_engineer)
    page = client.get(reverse("release_detail", kwargs={"pk": release.pk})).content.decode()
    shown = seen_digest(page)
    target = item(release, PENDING)
    ask = reverse("waiver_ask", kwargs={"pk": release.pk, "item_pk": target.pk})
    response = client.post(ask, {"reason": "Dashboard has a stuck row", "seen_digest": shown})
    assert response.status_code == 302
    from checklists.models import Waiver

    waiver = Waiver.objects.get()
    client.force_login(platform_lead)
    approve = reverse("waiver_approve", kwargs={"pk": release.pk, "waiver_pk": waiver.pk})
    page = client.get(reverse("release_detail", kwargs={"pk": release.pk})).content.decode()
    assert "Approve waiver" in page
    lead_saw = seen_digest(page)
    # Meanwhile another item is ticked: the release digest moves.
    other = second_lead(project)
    from checklists.services.items import item_tick

    item_tick(item=item(release, "application-smoke-tests-security-checks"), user=other)
    response = client.post(approve, {"seen_digest": lead_saw})
    assert response.status_code == 409
    assert "changed since you opened the page" in response.content.decode()
    waiver.refresh_from_db()
    assert waiver.approved_at is None
    response = client.post(approve, {"seen_digest": current_digest(release)})
    assert response.status_code == 302
    waiver.refresh_from_db()
    assert waiver.approved_by == platform_lead
    # Shown on the item and in the sign-off panel, to the owner.
    page = client.get(reverse("release_detail", kwargs={"pk": release.pk})).content.decode()
    panel = page.split('id="signoff-waivers"', 1)[1].split("</div>", 1)[0]
    assert "Dashboard has a stuck row" in panel and "approved by lead" in panel
