"""The gate: 200 with the approved digest, or 409 with what is missing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from checklists.deployments.services import gate_break_glass, gate_override_resolve
from checklists.models import FreezeWindow, GateOverride
from checklists.services.migrations import release_upload_archive
from tests.api.conftest import url
from tests.factories import (
    DEMO_MIGRATIONS,
    PASSWORD,
    current_digest,
    one_lead_breaks_glass,
    supabase_archive,
)


def break_glass(release, lead, reason="Hotfix for the login outage"):
    """``lead`` breaks the glass on ``release`` at the digest it has now."""
    return gate_break_glass(release=release, seen_digest=current_digest(release), user=lead,
                            reason=reason, password=PASSWORD)  # fmt: skip


def gate(api, release):
    return api.get(url(f"/releases/{release.pk}/gate"))


def test_it_opens_for_an_approved_release_with_its_digest(api, approved_release):
    response = gate(api, approved_release)
    assert response.status_code == 200
    body = response.json()
    assert body["open"] is True
    assert body["digest"] == approved_release.digest
    assert body["error"] is None
    assert body["missing_items"] == [] and body["missing_signoffs"] == []


def test_it_lists_every_open_item_with_its_step_and_owner(api, release_with_files):
    response = gate(api, release_with_files)
    assert response.status_code == 409
    body = response.json()
    assert body["open"] is False
    assert body["error"].startswith("The gate is closed: ")
    assert "12 checklist item(s) are not done" in body["error"]
    first = body["missing_items"][0]
    assert first["step"] == "confirm-supabase-migrations-order-chronological"
    assert first["owner"] == "release_engineer"
    assert first["text"].startswith("Confirm `supabase/migrations` order")
    assert len(body["missing_items"]) == 12
    assert body["missing_signoffs"] == [{"kind": "release_owner", "label": "Release owner",
                                         "who": "lead", "signed_at": None, "stale_since": None,
                                         "why": None}]  # fmt: skip


def test_it_names_the_one_item_left(api, approved_release, platform_lead):
    from checklists.services.items import item_untick

    item = approved_release.items.get(step__key="application-smoke-tests-security-checks")
    item_untick(item=item, user=platform_lead, reason="smoke tests must run again")
    body = gate(api, approved_release).json()
    assert [i["step"] for i in body["missing_items"]] == ["application-smoke-tests-security-checks"]
    assert [s["kind"] for s in body["stale_signoffs"]] == ["release_owner"]


def test_it_waits_for_a_missing_signoff(api, release_with_files, platform_lead):
    from tests.api.conftest import settle_checklist

    settle_checklist(release_with_files, platform_lead)
    response = gate(api, release_with_files)
    assert response.status_code == 409
    body = response.json()
    assert body["missing_items"] == []
    assert [s["kind"] for s in body["missing_signoffs"]] == ["release_owner"]
    assert body["state"] == "ready"


def test_it_closes_when_a_reupload_makes_the_signoff_stale(api, approved_release, release_engineer):
    files = {**DEMO_MIGRATIONS, "migrations/20250103000000_more.sql": "select 1;\n"}
    release_upload_archive(
        release=approved_release, data=supabase_archive(files), filename="s.zip",
        actor=release_engineer,
    )  # fmt: skip
    response = gate(api, approved_release)
    assert response.status_code == 409
    stale = response.json()["stale_signoffs"]
    assert [(s["kind"], s["who"]) for s in stale] == [("release_owner", "lead")]
    assert "migrations changed" in stale[0]["why"]


def test_it_closes_during_a_freeze_window(api, approved_release, project):
    now = timezone.now()
    FreezeWindow.objects.create(
        project=project, starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=1),
        reason="Black Friday",
    )  # fmt: skip
    response = gate(api, approved_release)
    assert response.status_code == 409
    body = response.json()
    assert body["freeze"]["reason"] == "Black Friday"
    assert "Black Friday" in body["error"]
    assert body["missing_items"] == [] and body["stale_signoffs"] == []


def test_it_ignores_freeze_windows_that_are_over_or_elsewhere(
    api, approved_release, project, other_project
):
    now = timezone.now()
    FreezeWindow.objects.create(
        project=project, starts_at=now - timedelta(hours=3), ends_at=now - timedelta(hours=1),
        reason="over",
    )  # fmt: skip
    FreezeWindow.objects.create(
        project=other_project, starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=1),
        reason="elsewhere",
    )  # fmt: skip
    assert gate(api, approved_release).status_code == 200


def test_it_opens_by_break_glass_and_closes_when_resolved(api, release_with_files, platform_lead):
    one_lead_breaks_glass(release_with_files)
    override = break_glass(release_with_files, platform_lead)
    response = gate(api, release_with_files)
    assert response.status_code == 200
    body = response.json()
    assert body["override"]["by"] == "lead"
    assert body["override"]["reason"] == "Hotfix for the login outage"
    assert len(body["missing_items"]) == 12  # still listed: the deployment skips them
    gate_override_resolve(override=override, user=platform_lead, note="Checked the hotfix after")
    assert gate(api, release_with_files).status_code == 409


def test_it_ignores_an_expired_break_glass(api, release_with_files, platform_lead):
    one_lead_breaks_glass(release_with_files)
    break_glass(release_with_files, platform_lead)
    GateOverride.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert gate(api, release_with_files).status_code == 409


def test_it_ignores_a_break_glass_given_for_another_digest(
    api, release_with_files, platform_lead, release_engineer
):
    one_lead_breaks_glass(release_with_files)
    break_glass(release_with_files, platform_lead)
    files = {**DEMO_MIGRATIONS, "migrations/20250103000000_more.sql": "select 1;\n"}
    release_upload_archive(
        release=release_with_files, data=supabase_archive(files), filename="s.zip",
        actor=release_engineer,
    )  # fmt: skip
    assert gate(api, release_with_files).status_code == 409


def test_it_opens_a_freeze_by_break_glass(api, approved_release, project, platform_lead):
    now = timezone.now()
    FreezeWindow.objects.create(
        project=project, starts_at=now, ends_at=now + timedelta(hours=1), reason="launch",
    )  # fmt: skip
    one_lead_breaks_glass(approved_release)
    break_glass(approved_release, platform_lead, reason="Security fix cannot wait")
    body = gate(api, approved_release).json()
    assert body["open"] is True and body["freeze"]["reason"] == "launch"


def test_it_stays_closed_for_a_cancelled_release_even_with_nothing_missing(
    api, release_with_files, platform_lead
):
    from checklists.services.releases import release_cancel

    release_cancel(release=release_with_files, user=platform_lead, reason="superseded")
    body = gate(api, release_with_files).json()
    assert body["open"] is False
    assert "cancelled" in body["state_problem"]


@pytest.mark.parametrize(
    "scopes,status", [(("read",), 200), (("deploy",), 200), (("report",), 403)]
)
def test_it_answers_read_and_deploy_tokens(api_for, approved_release, scopes, status):
    assert gate(api_for(*scopes), approved_release).status_code == status


def test_it_says_a_break_glass_waits_for_its_second_lead(api, release_with_files, platform_lead):
    # CI logs print the error's sentence: an unconfirmed break-glass is why the gate is
    # still shut for whoever broke it, so the sentence says so and what happens next.
    break_glass(release_with_files, platform_lead)
    response = gate(api, release_with_files)
    assert response.status_code == 409
    body = response.json()
    assert body["override"] is None and body["override_unconfirmed"]["by"] == "lead"
    sentence = body["reasons"][-1]
    assert sentence.startswith("the break-glass by lead at 20")
    assert sentence.endswith(
        " UTC is not in force yet: a second platform lead confirms it on the release's gate page"
    )
    assert body["error"].endswith(sentence)


def test_it_says_the_backup_is_too_old(
    api, release_with_files, targets, platform_lead, sre, tmp_path
):
    """The answer names the backup, when it was taken and the project's limit."""
    from checklists.models import Evidence
    from tests.checklists.test_backup_proof import approved_with_backup

    backup = approved_with_backup(
        release_with_files, targets["production"], platform_lead, sre, tmp_path
    )
    taken = timezone.now() - timedelta(hours=30)
    for evidence in Evidence.objects.filter(kind=Evidence.Kind.BACKUP):
        evidence.data = {**evidence.data, "taken_at": taken.isoformat()}
        evidence.save(update_fields=["data"])
    response = gate(api, release_with_files)
    assert response.status_code == 409
    body = response.json()
    assert body["old_backup"]["file"] == backup.file_name
    assert body["old_backup"]["max_age_hours"] == 24
    assert "more than 24 h ago" in body["error"]
