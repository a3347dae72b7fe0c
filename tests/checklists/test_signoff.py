import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction

from checklists.models import ChecklistItem, SignOff
from checklists.services.errors import AlreadyDone, ChecklistError
from checklists.services.items import item_tick, item_untick
from checklists.services.migrations import release_upload_archive
from checklists.services.signoffs import signoff_changes
from release_portal.audit.models import AuditEvent
from tests.checklists.conftest import item
from tests.factories import (
    DEMO_MIGRATIONS,
    settle_checklist,
    sign_off,
    supabase_archive,
)


def settle_everything(release, lead):
    settle_checklist(release, lead, reason="demo")


def test_the_owner_signs_when_everything_is_settled(release_with_files, platform_lead):
    release = release_with_files
    settle_everything(release, platform_lead)
    release.refresh_from_db()
    assert release.state == "ready"
    signoff = sign_off(release, platform_lead)
    release.refresh_from_db()
    assert signoff.digest == release.digest
    assert release.state == "approved"
    assert item(release, "release-owner-sign-off-name").state == "done"
    assert AuditEvent.objects.filter(action="signoff.give").count() == 1
    # Webhooks hear of it (release approved), through the notification hub.
    assert AuditEvent.objects.filter(action="notify.release.approved").count() == 1


def test_the_owner_cannot_sign_with_open_items(release_with_files, platform_lead):
    with pytest.raises(ChecklistError, match="not done or not applicable"):
        sign_off(release_with_files, platform_lead)
    assert not SignOff.objects.exists()


def test_signing_asks_for_the_password_again(release_with_files, platform_lead):
    settle_everything(release_with_files, platform_lead)
    with pytest.raises(ChecklistError, match="password is not right"):
        sign_off(release_with_files, platform_lead, password="nope")
    assert not SignOff.objects.exists()
    # The refusal stays in the change log.
    assert AuditEvent.objects.filter(action="signoff.password_refused").count() == 1


@pytest.mark.parametrize("role", ["release_engineer", "qa_lead", "sre", "auditor", "outsider"])
def test_only_the_release_owner_gives_the_final_signoff(
    release_with_files, personas, platform_lead, role
):
    settle_everything(release_with_files, platform_lead)
    with pytest.raises(PermissionDenied):
        sign_off(release_with_files, personas[role])


def test_a_change_after_signing_makes_the_signoff_stale(
    release_with_files, platform_lead, release_engineer
):
    release = release_with_files
    settle_everything(release, platform_lead)
    sign_off(release, platform_lead)
    files = dict(DEMO_MIGRATIONS)
    files["migrations/20250102000000_members.sql"] += "create index on app.members (name);\n"
    release_upload_archive(
        release=release, data=supabase_archive(files), filename="s.zip", actor=release_engineer
    )
    release.refresh_from_db()
    signoff = SignOff.objects.get()
    assert signoff.stale_at is not None
    assert "migrations changed" in signoff.stale_reason
    assert not signoff.is_current
    # The waivers were for the old files: their items are stale again, like the sign-off.
    assert release.state == "preflight"
    assert item(release, "release-owner-sign-off-name").state == "stale"
    changes = signoff_changes(signoff)
    assert changes["files"] == ["changed 20250102000000_members.sql"]
    assert AuditEvent.objects.filter(action="signoff.stale").count() == 1
    assert AuditEvent.objects.filter(action="notify.signoff.stale").count() == 1
    # Signing again (once the checklist is settled for the new files) records the new
    # digest on the same row.
    settle_checklist(release, platform_lead, reason="demo again")
    again = sign_off(release, platform_lead)
    assert again.pk == signoff.pk and again.stale_at is None
    release.refresh_from_db()
    assert release.state == "approved"


def test_unticking_an_item_after_signing_makes_it_stale(release_with_files, platform_lead):
    release = release_with_files
    settle_everything(release, platform_lead)
    sign_off(release, platform_lead)
    item_untick(
        item=item(release, "verify-secrets-supabase-access-token"),
        user=platform_lead,
        reason="secret rotated",
    )
    signoff = SignOff.objects.get()
    assert signoff.stale_at is not None
    assert any(
        "verify" in c.lower() or "secrets" in c.lower()
        for c in signoff_changes(signoff)["checklist"]
    )


def test_signing_twice_says_so(release_with_files, platform_lead):
    settle_everything(release_with_files, platform_lead)
    sign_off(release_with_files, platform_lead)
    with pytest.raises((AlreadyDone, ChecklistError)):
        sign_off(release_with_files, platform_lead)
    assert SignOff.objects.count() == 1


def test_required_qa_and_sre_signoffs_come_first(
    release_with_files, platform_lead, qa_lead, sre, project
):
    project.require_qa_signoff = project.require_sre_signoff = True
    project.save()
    release = release_with_files
    settle_everything(release, platform_lead)
    with pytest.raises(ChecklistError, match="waiting for the QA lead, SRE / on-call sign-off"):
        sign_off(release, platform_lead)
    sign_off(release, qa_lead, "qa_lead")
    sign_off(release, sre, "sre")
    sign_off(release, platform_lead)
    release.refresh_from_db()
    assert release.state == "approved"
    assert SignOff.objects.count() == 3


def test_the_uploader_may_be_barred_from_the_final_signoff(release, platform_lead, project):
    project.uploader_may_not_sign = True
    project.save()
    release_upload_archive(
        release=release,
        data=supabase_archive(DEMO_MIGRATIONS),
        filename="s.zip",
        actor=platform_lead,
    )
    settle_everything(release, platform_lead)
    with pytest.raises(ChecklistError, match="uploaded these migrations"):
        sign_off(release, platform_lead)


def test_one_person_gives_at_most_one_signoff_per_release_in_the_database(
    release_with_files, platform_lead
):
    SignOff.objects.create(
        release=release_with_files,
        user=platform_lead,
        kind="qa_lead",
        digest="x",
        signed_at="2026-01-01T00:00Z",
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        SignOff.objects.create(
            release=release_with_files,
            user=platform_lead,
            kind="sre",
            digest="x",
            signed_at="2026-01-01T00:00Z",
        )


def test_items_state_counts_for_the_digest_but_signoff_items_do_not(
    release_with_files, platform_lead
):
    release = release_with_files
    before = release.digest
    ChecklistItem.objects.filter(release=release, step__is_signoff=True).update(state="done")
    from checklists.services.state import release_refresh

    with transaction.atomic():
        release_refresh(release=release, actor=None, reason="test")
    assert release.digest == before
    item_tick(item=item(release, "run-pnpm-lint-typecheck-test"), user=platform_lead)
    release.refresh_from_db()
    assert release.digest != before


def test_the_change_log_names_sign_offs_and_states_as_people_do(release_with_files, platform_lead):
    """The change log and the release page's timeline read "lead signed off as
    release_owner", "marked lead's release_owner sign-off stale" and "moved the release
    from ready to approved": codes, not the names the pages use."""
    from release_portal.audit.registry import phrase_for

    release = release_with_files
    settle_everything(release, platform_lead)
    sign_off(release, platform_lead)
    item_untick(item=item(release, "verify-secrets-supabase-access-token"), user=platform_lead,
                reason="secret rotated")  # fmt: skip
    said = {e.action: phrase_for(e) for e in AuditEvent.objects.filter(release_id=release.pk)}
    assert said["signoff.give"] == "signed off as Release owner"
    assert said["signoff.stale"] == "marked lead's sign-off as Release owner stale"
    moves = [
        phrase_for(e)
        for e in AuditEvent.objects.filter(release_id=release.pk, action="release.state")
    ]
    assert "moved the release from Ready for sign-off to Approved" in moves
