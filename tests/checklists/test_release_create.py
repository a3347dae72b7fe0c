import pytest

from checklists.models import ChecklistItem, Release
from checklists.services.errors import ChecklistError
from checklists.services.releases import ReleaseExists, release_cancel, release_create
from release_portal.audit.models import AuditEvent
from tests.factories import UserFactory, published_runbook


def test_it_pins_the_latest_published_runbook_with_one_item_per_step(
    project, runbook, platform_lead, release_engineer
):
    newer = published_runbook(project, number=2)
    release = release_create(
        project=project,
        title="  Members  ",
        owner=platform_lead,
        commit_sha="ABCDEF0123" * 4,
        created_by=release_engineer,
    )
    assert release.runbook_version == newer
    assert release.title == "Members"
    assert release.commit_sha == "abcdef0123" * 4
    assert release.items.count() == 13
    assert set(release.items.values_list("state", flat=True)) == {ChecklistItem.State.OPEN}
    assert release.state == Release.State.DRAFT
    assert len(release.digest) == 64 and len(release.content_digest) == 64
    event = AuditEvent.objects.get(action="release.create")
    assert event.release_id == release.pk
    assert event.actor_name == "releng"


@pytest.mark.parametrize("sha", ["abc", "g" * 40, "a" * 39, "a" * 41, "", "a" * 38 + " x"])
def test_it_refuses_a_commit_sha_that_is_not_40_hex(project, runbook, platform_lead, sha):
    events = AuditEvent.objects.count()
    with pytest.raises(ChecklistError, match="not a commit SHA"):
        release_create(
            project=project,
            title="x",
            owner=platform_lead,
            commit_sha=sha,
            created_by=platform_lead,
        )
    assert not Release.objects.exists()
    assert AuditEvent.objects.count() == events


def test_it_needs_a_published_runbook(project, platform_lead):
    with pytest.raises(ChecklistError, match="no published runbook"):
        release_create(
            project=project,
            title="x",
            owner=platform_lead,
            commit_sha="a" * 40,
            created_by=platform_lead,
        )


def test_the_owner_must_be_a_member(project, runbook, platform_lead):
    stranger = UserFactory(username="stranger")
    with pytest.raises(ChecklistError, match="not a member"):
        release_create(
            project=project,
            title="x",
            owner=stranger,
            commit_sha="a" * 40,
            created_by=platform_lead,
        )


def test_the_runbook_lint_is_evidence_for_the_runbook_review_step(project, runbook, platform_lead):
    release = release_create(
        project=project,
        title="x",
        owner=platform_lead,
        commit_sha="a" * 40,
        created_by=platform_lead,
    )
    item = release.items.get(step__key="runbook-review-completed-no-steps")
    evidence = item.evidence.get()
    assert evidence.kind == "runbook_lint"
    # The shared runbook's commands do not exist in the Supabase CLI as written.
    assert evidence.status == "failed"
    assert "lint" in evidence.summary and evidence.data["counts"]["error"] >= 3
    assert item.state == "open"  # evidence never ticks


def test_it_makes_one_release_per_commit_until_that_one_is_cancelled(
    project, runbook, platform_lead
):
    def create(title):
        return release_create(
            project=project, title=title, owner=platform_lead, commit_sha="c" * 40,
            created_by=platform_lead,
        )  # fmt: skip

    first = create("First")
    with pytest.raises(ReleaseExists) as refused:
        create("Second")
    assert refused.value.release == first
    assert Release.objects.count() == 1
    release_cancel(release=first, user=platform_lead, reason="wrong runbook")
    assert create("Again").pk != first.pk
