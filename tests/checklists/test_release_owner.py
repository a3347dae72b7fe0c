"""A platform lead names another owner for a release: the person who gives its final
sign-off (the previous owner's goes stale). The page is the lead's alone; the others are
refused, and another project's release is a 404."""

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from checklists.models import SignOff
from checklists.services.errors import ChecklistError
from checklists.services.migrations import release_upload_archive
from checklists.services.releases import release_cancel, release_change_owner
from release_portal.audit.models import AuditEvent
from tests.factories import DEMO_MIGRATIONS, settle_checklist, sign_off, supabase_archive


def approved(release, lead):
    settle_checklist(release, lead, reason="demo")
    sign_off(release, lead)
    release.refresh_from_db()
    assert release.state == "approved"
    return release


def test_the_new_owner_signs_again_after_the_previous_owners_signoff_goes_stale(
    release_with_files, project, platform_lead, release_engineer
):
    project.uploader_may_not_sign = False  # release_engineer uploaded the files
    project.save()
    release = approved(release_with_files, platform_lead)
    stale = release_change_owner(
        release=release, user=platform_lead, new_owner=release_engineer, reason="Ana is on leave"
    )
    release.refresh_from_db()
    assert (stale, release.owner, release.state) == (1, release_engineer, "ready")
    signoff = SignOff.objects.get()
    assert signoff.stale_reason == (
        f"the release's owner changed from {platform_lead} to {release_engineer}"
    )
    event = AuditEvent.objects.get(action="release.owner_change")
    assert event.data == {
        "from": platform_lead.username, "to": release_engineer.username, "reason": "Ana is on leave"
    }  # fmt: skip
    with pytest.raises(PermissionDenied):
        sign_off(release, platform_lead)  # no longer theirs to give
    sign_off(release, release_engineer)
    release.refresh_from_db()
    assert release.state == "approved"


def test_a_project_that_bars_the_uploader_can_still_approve_the_release(
    release, project, platform_lead, release_engineer
):
    """The owner uploaded the files in a project that asks someone else to sign: naming
    another owner is the way on (the refusal says so)."""
    project.uploader_may_not_sign = True
    project.save()
    release_upload_archive(
        release=release, data=supabase_archive(DEMO_MIGRATIONS), filename="s.zip",
        actor=platform_lead,
    )  # fmt: skip
    settle_checklist(release, platform_lead, reason="demo")
    with pytest.raises(ChecklistError, match="a platform lead names another owner"):
        sign_off(release, platform_lead)
    release_change_owner(
        release=release, user=platform_lead, new_owner=release_engineer, reason="uploaded it"
    )
    release.refresh_from_db()
    sign_off(release, release_engineer)
    release.refresh_from_db()
    assert release.state == "approved"


@pytest.mark.parametrize("role", ["release_engineer", "qa_lead", "sre", "auditor", "outsider"])
def test_only_a_platform_lead_names_another_owner(release, personas, release_engineer, role):
    with pytest.raises(PermissionDenied):
        release_change_owner(
            release=release, user=personas[role], new_owner=release_engineer, reason="why"
        )
    release.refresh_from_db()
    assert release.owner != release_engineer


@pytest.mark.parametrize(
    ("new", "reason", "refusal"),
    [
        ("qa_lead", "away", "is not a platform lead or release engineer"),
        ("outsider", "away", "is not a platform lead or release engineer"),
        ("platform_lead", "away", "already owns this release"),
        ("release_engineer", " ", "Say why the owner changes"),
    ],
)
def test_the_new_owner_must_be_one_who_may_own_it(release, personas, new, reason, refusal):
    with pytest.raises(ChecklistError, match=refusal):
        release_change_owner(
            release=release, user=personas["platform_lead"], new_owner=personas[new], reason=reason
        )
    assert not AuditEvent.objects.filter(action="release.owner_change").exists()


def test_the_uploader_a_project_bars_from_signing_is_not_named(
    release_with_files, project, platform_lead, release_engineer
):
    project.uploader_may_not_sign = True
    project.save()
    with pytest.raises(ChecklistError, match=r"uploaded these migrations.*name someone else"):
        release_change_owner(
            release=release_with_files, user=platform_lead, new_owner=release_engineer,
            reason="away",
        )  # fmt: skip


def test_someone_who_gave_another_signoff_cannot_become_the_owner(
    release_with_files, project, platform_lead, release_engineer
):
    SignOff.objects.create(
        release=release_with_files, user=release_engineer, kind="qa_lead", digest="x",
        signed_at="2026-01-01T00:00Z",
    )  # fmt: skip
    with pytest.raises(ChecklistError, match="signed this release as QA lead"):
        release_change_owner(
            release=release_with_files, user=platform_lead, new_owner=release_engineer,
            reason="away",
        )  # fmt: skip


def test_a_closed_release_keeps_its_owner(release, platform_lead, release_engineer):
    release_cancel(release=release, user=platform_lead, reason="not needed")
    with pytest.raises(ChecklistError, match="cancelled: its owner no longer changes"):
        release_change_owner(
            release=release, user=platform_lead, new_owner=release_engineer, reason="away"
        )


def test_the_lead_names_the_owner_on_its_page(client, release, platform_lead, release_engineer):
    client.force_login(platform_lead)
    url = reverse("release_owner", args=[release.pk])
    page = client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert f'<option value="{release_engineer.pk}">{release_engineer.username}</option>' in body
    assert f'<option value="{platform_lead.pk}"' not in body  # the owner already
    refused = client.post(url, {"owner": release_engineer.pk, "reason": ""})
    assert refused.status_code == 400
    done = client.post(url, {"owner": release_engineer.pk, "reason": "on leave"}, follow=True)
    assert done.redirect_chain[-1][0] == reverse("release_detail", args=[release.pk])
    assert f"{release_engineer.username} now owns this release" in done.content.decode()
    release.refresh_from_db()
    assert release.owner == release_engineer


def test_the_release_page_links_the_owner_page_for_a_lead_only(
    client, release, platform_lead, release_engineer
):
    url = reverse("release_owner", args=[release.pk])
    client.force_login(platform_lead)
    assert url in client.get(reverse("release_detail", args=[release.pk])).content.decode()
    client.force_login(release_engineer)
    assert url not in client.get(reverse("release_detail", args=[release.pk])).content.decode()
    assert client.get(url).status_code == 403
