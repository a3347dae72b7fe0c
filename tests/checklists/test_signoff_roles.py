"""A sign-off counts while its giver holds the role they gave it in: when a member's role
is removed or changed (the Members page, Django's admin), their sign-offs in that role on
the project's releases not yet deploying go stale, saying why, and the release is no
longer approved."""

from checklists.models import SignOff
from checklists.services.releases import release_create
from release_portal.accounts.models import Membership
from release_portal.accounts.roles import Role
from release_portal.accounts.services import membership_change_role, membership_remove
from release_portal.audit.models import AuditEvent
from tests.factories import settle_checklist, sign_off


def approved_with_qa(release, project, lead, qa_lead):
    project.require_qa_signoff = True
    project.save()
    settle_checklist(release, lead, reason="demo")
    sign_off(release, qa_lead, "qa_lead")
    sign_off(release, lead)
    release.refresh_from_db()
    assert release.state == "approved"
    return release


def test_a_qa_signoff_stops_counting_when_its_giver_is_no_longer_qa_lead(
    release_with_files, project, platform_lead, qa_lead
):
    release = approved_with_qa(release_with_files, project, platform_lead, qa_lead)
    membership = Membership.objects.get(project=project, user=qa_lead)
    membership_change_role(membership=membership, role=Role.SRE, changed_by=platform_lead)
    release.refresh_from_db()
    qa = SignOff.objects.get(kind="qa_lead")
    assert qa.stale_reason == "qa is no longer QA lead of this project"
    assert SignOff.objects.get(kind="release_owner").stale_at is None  # the owner's stands
    assert release.state == "ready"
    assert AuditEvent.objects.filter(action="signoff.stale").count() == 1


def test_removing_the_role_does_the_same(release_with_files, project, platform_lead, qa_lead):
    release = approved_with_qa(release_with_files, project, platform_lead, qa_lead)
    membership_remove(
        membership=Membership.objects.get(project=project, user=qa_lead), removed_by=platform_lead
    )
    release.refresh_from_db()
    assert SignOff.objects.get(kind="qa_lead").stale_at is not None
    assert release.state == "ready"


def test_the_owners_signoff_stops_counting_when_no_role_lets_them_own_it(
    project, runbook, platform_lead, release_engineer, qa_lead
):
    from checklists.services.migrations import release_upload_archive
    from tests.factories import DEMO_MIGRATIONS, supabase_archive

    project.uploader_may_not_sign = False
    project.save()
    release = release_create(
        project=project, title="t", owner=release_engineer, commit_sha="d" * 40,
        created_by=platform_lead,
    )  # fmt: skip
    release_upload_archive(
        release=release, data=supabase_archive(DEMO_MIGRATIONS), filename="s.zip",
        actor=platform_lead,
    )  # fmt: skip
    settle_checklist(release, platform_lead, reason="demo")
    sign_off(release, release_engineer)
    membership = Membership.objects.get(project=project, user=release_engineer)
    # Another role that owns releases would keep it: QA lead does not.
    membership_change_role(membership=membership, role=Role.QA_LEAD, changed_by=platform_lead)
    release.refresh_from_db()
    owner = SignOff.objects.get(kind="release_owner")
    assert owner.stale_reason == "releng is no longer Release engineer of this project"
    assert release.state == "ready"


def test_a_role_that_gave_no_signoff_changes_nothing(
    release_with_files, project, platform_lead, qa_lead, sre
):
    release = approved_with_qa(release_with_files, project, platform_lead, qa_lead)
    membership_remove(
        membership=Membership.objects.get(project=project, user=sre), removed_by=platform_lead
    )
    release.refresh_from_db()
    assert release.state == "approved"
    assert not SignOff.objects.filter(stale_at__isnull=False).exists()
