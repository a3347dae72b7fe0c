"""A platform lead changes members' roles (never their own) and manages pending
invitations (resend, revoke); every change is in the change log."""

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

from release_portal.accounts.models import Membership
from release_portal.accounts.roles import Action, Role, can
from release_portal.accounts.services import member_invite
from release_portal.audit.models import AuditEvent


def members_url(project):
    return reverse("project_members", kwargs={"slug": project.slug})


def role_url(membership):
    return reverse("membership_role", kwargs={"slug": membership.project.slug, "pk": membership.pk})


@pytest.fixture
def invitee(project, platform_lead, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        membership = member_invite(
            project=project, email="nia@example.com", role=Role.QA_LEAD,
            invited_by=platform_lead, base_url="http://testserver/",
        )  # fmt: skip
    mail.outbox.clear()
    return membership.user


def reset_link(message: Any) -> str:
    """The set-password link an invitation mails."""
    return next(line for line in message.body.splitlines() if "/reset/" in line).strip()


def opens_set_password_form(client: Any, link: str) -> bool:
    """Whether ``link``, followed by someone signed out, shows the set-password form."""
    client.logout()
    response = client.get(link.replace("http://testserver", ""), follow=True)
    return "new_password1" in response.content.decode()


def test_a_lead_changes_a_members_role_and_it_is_audited(client, platform_lead, sre, project):
    membership = Membership.objects.get(user=sre, project=project)
    client.force_login(platform_lead)
    response = client.post(role_url(membership), {"role": Role.AUDITOR})
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.role == Role.AUDITOR
    assert not can(sre, Action.MANAGE_BACKUPS, project)
    event = AuditEvent.objects.get(action="member.role_change")
    assert event.data == {"user": "sre", "before": "sre", "after": "auditor"}
    assert event.actor_name == "lead"
    html = client.get(members_url(project)).content.decode()
    assert "sre is now Auditor (was SRE / on-call)." in html


def test_a_lead_cannot_change_their_own_role(client, platform_lead, project):
    own = Membership.objects.get(user=platform_lead, project=project)
    client.force_login(platform_lead)
    response = client.post(role_url(own), {"role": Role.AUDITOR}, follow=True)
    assert "You cannot change your own role" in response.content.decode()
    own.refresh_from_db()
    assert own.role == Role.PLATFORM_LEAD
    assert not AuditEvent.objects.filter(action="member.role_change").exists()
    # The page offers no form for one's own row.
    assert f'action="{role_url(own)}"' not in response.content.decode()


def test_the_last_lead_keeps_the_role_and_a_role_held_twice_is_refused(
    client, platform_lead, qa_lead, project
):
    second = Membership.objects.create(user=qa_lead, project=project, role=Role.PLATFORM_LEAD)
    client.force_login(platform_lead)
    # qa holds QA lead already: giving their lead role QA lead again is refused.
    response = client.post(role_url(second), {"role": Role.QA_LEAD}, follow=True)
    assert "qa is already QA lead here." in response.content.decode()
    second.refresh_from_db()
    assert second.role == Role.PLATFORM_LEAD
    # qa (now a lead) demotes lead; lead is then the last... no: qa is. qa's lead role stays.
    client.force_login(qa_lead)
    lead_row = Membership.objects.get(user=platform_lead, project=project)
    assert client.post(role_url(lead_row), {"role": Role.AUDITOR}).status_code == 302
    lead_row.refresh_from_db()
    assert lead_row.role == Role.AUDITOR
    client.force_login(platform_lead)  # no longer a lead: may not manage members
    assert client.post(role_url(second), {"role": Role.AUDITOR}).status_code == 403


@pytest.mark.parametrize("role", ["release_engineer", "qa_lead", "sre", "auditor"])
def test_other_roles_may_not_change_roles(client, personas, project, role):
    target = Membership.objects.get(user=personas["sre"], project=project)
    client.force_login(personas[role])
    assert client.post(role_url(target), {"role": Role.PLATFORM_LEAD}).status_code == 403
    target.refresh_from_db()
    assert target.role == Role.SRE


def test_another_projects_lead_cannot_change_a_role_here(client, outsider, other_project, sre):
    target = Membership.objects.get(user=sre)
    url = reverse("membership_role", kwargs={"slug": other_project.slug, "pk": target.pk})
    client.force_login(outsider)
    assert client.post(url, {"role": Role.PLATFORM_LEAD}).status_code == 404
    assert client.post(role_url(target), {"role": Role.PLATFORM_LEAD}).status_code == 404
    target.refresh_from_db()
    assert target.role == Role.SRE


def test_pending_invitations_are_listed_with_resend_and_revoke(
    client, platform_lead, invitee, project
):
    client.force_login(platform_lead)
    html = client.get(members_url(project)).content.decode()
    table = html.split('id="pending-invitations"', 1)[1].split("</table>", 1)[0]
    assert "nia@example.com" in table and "QA lead" in table
    assert "lead@example.com" not in table  # people who set a password are not pending
    assert (
        reverse("invitation_resend", kwargs={"slug": project.slug, "user_id": invitee.pk}) in table
    )
    assert (
        reverse("invitation_revoke", kwargs={"slug": project.slug, "user_id": invitee.pk}) in table
    )


def test_resending_mails_a_working_link_and_is_audited(
    client, platform_lead, invitee, project, django_capture_on_commit_callbacks
):
    client.force_login(platform_lead)
    url = reverse("invitation_resend", kwargs={"slug": project.slug, "user_id": invitee.pk})
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url).status_code == 302
    [message] = mail.outbox
    assert message.to == ["nia@example.com"]
    link = reset_link(message)
    assert "lead added you to" in message.body
    event = AuditEvent.objects.get(action="member.invite_resend")
    assert event.data == {"user": invitee.get_username(), "email": "nia@example.com"}
    # The link works: it leads to the set-password form.
    assert opens_set_password_form(client, link)


def test_revoking_removes_the_roles_disables_the_account_and_kills_the_link(
    client, platform_lead, invitee, project, django_capture_on_commit_callbacks
):
    client.force_login(platform_lead)
    resend = reverse("invitation_resend", kwargs={"slug": project.slug, "user_id": invitee.pk})
    with django_capture_on_commit_callbacks(execute=True):
        client.post(resend)
    link = reset_link(mail.outbox[0])
    url = reverse("invitation_revoke", kwargs={"slug": project.slug, "user_id": invitee.pk})
    assert client.post(url).status_code == 302
    assert not Membership.objects.filter(user=invitee).exists()
    invitee.refresh_from_db()
    assert invitee.is_active is False
    event = AuditEvent.objects.get(action="member.invite_revoke")
    assert event.data["roles"] == ["qa_lead"] and event.data["account_disabled"] is True
    assert not opens_set_password_form(client, link)
    # Nothing pending any more: a second revoke says so and changes nothing.
    client.force_login(platform_lead)
    response = client.post(url, follow=True)
    assert "no pending invitation" in response.content.decode()


def test_a_member_who_set_a_password_is_not_an_invitation(client, platform_lead, sre, project):
    client.force_login(platform_lead)
    url = reverse("invitation_revoke", kwargs={"slug": project.slug, "user_id": sre.pk})
    client.post(url)
    assert Membership.objects.filter(user=sre, project=project).exists()
    assert not AuditEvent.objects.filter(action="member.invite_revoke").exists()


@pytest.mark.parametrize("role", ["release_engineer", "qa_lead", "sre", "auditor"])
def test_other_roles_may_not_resend_or_revoke(client, personas, invitee, project, role):
    client.force_login(personas[role])
    for name in ("invitation_resend", "invitation_revoke"):
        url = reverse(name, kwargs={"slug": project.slug, "user_id": invitee.pk})
        assert client.post(url).status_code == 403
    assert Membership.objects.filter(user=invitee).exists()


def test_another_projects_lead_cannot_touch_an_invitation_here(
    client, outsider, other_project, invitee, project
):
    client.force_login(outsider)
    for name in ("invitation_resend", "invitation_revoke"):
        theirs = reverse(name, kwargs={"slug": other_project.slug, "user_id": invitee.pk})
        assert client.post(theirs, follow=True).status_code == 200  # their own page: nothing
        ours = reverse(name, kwargs={"slug": project.slug, "user_id": invitee.pk})
        assert client.post(ours).status_code == 404
    assert Membership.objects.filter(user=invitee).exists()
    assert get_user_model().objects.get(pk=invitee.pk).is_active


def test_the_change_log_names_roles_as_people_do(client, platform_lead, sre, project, invitee):
    """What the auditor read: "lead changed sre's role from sre to auditor" and "lead added
    nia as qa_lead": the roles' codes, not their names."""
    from django.utils.html import escape

    membership = Membership.objects.get(user=sre, project=project)
    client.force_login(platform_lead)
    client.post(role_url(membership), {"role": Role.AUDITOR})
    client.post(reverse("membership_delete", kwargs={"slug": project.slug, "pk": membership.pk}))
    html = client.get(reverse("audit_log")).content.decode()
    assert escape("changed sre's role from SRE / on-call to Auditor") in html
    assert escape("added nia as QA lead") in html
    assert escape("removed sre (Auditor)") in html


def test_someone_invited_twice_before_setting_a_password_gets_a_link_to_set_it(
    client, outsider, other_project, invitee, django_capture_on_commit_callbacks
):
    """What nia got, invited to a second project before she had set a password: "Sign in
    with your existing account: http://testserver/": there was no account to sign in with."""
    client.force_login(outsider)  # the other project's lead
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            members_url(other_project), {"email": "nia@example.com", "role": Role.AUDITOR}
        )
    assert response.status_code == 302
    [message] = mail.outbox
    assert "existing account" not in message.body
    assert opens_set_password_form(client, reset_link(message))


def test_someone_with_a_password_is_told_to_sign_in(
    client, outsider, other_project, sre, django_capture_on_commit_callbacks
):
    client.force_login(outsider)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(members_url(other_project), {"email": sre.email, "role": Role.AUDITOR})
    [message] = mail.outbox
    assert "Sign in with your existing account" in message.body and "/reset/" not in message.body


def test_someone_whose_invitation_was_revoked_can_be_invited_again(
    client, platform_lead, invitee, project, django_capture_on_commit_callbacks
):
    """What the lead saw: revoke nia's invitation by mistake, invite her again: "Invited
    nia@example.com.", while her account stayed disabled, she was not listed as pending,
    and her mail said "Sign in with your existing account": she could never get in."""
    client.force_login(platform_lead)
    client.post(reverse("invitation_revoke", kwargs={"slug": project.slug, "user_id": invitee.pk}))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            members_url(project), {"email": "nia@example.com", "role": Role.QA_LEAD}
        )
    assert response.status_code == 302
    invitee.refresh_from_db()
    assert invitee.is_active
    [message] = mail.outbox
    assert "existing account" not in message.body
    table = client.get(members_url(project)).content.decode()
    assert "nia@example.com" in table.split('id="pending-invitations"')[1]
    event = AuditEvent.objects.filter(action="member.add").latest("seq")
    assert event.data["account_enabled"] is True
    assert opens_set_password_form(client, reset_link(message))


def test_an_account_an_operator_disabled_is_not_enabled_by_an_invitation(
    client, platform_lead, outsider, other_project, project, django_capture_on_commit_callbacks
):
    """An operator disabled ``outsider`` (the other project's lead); a lead here may not
    bring the account back, with its roles elsewhere, by inviting its email."""
    get_user_model().objects.filter(pk=outsider.pk).update(is_active=False)
    client.force_login(platform_lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            members_url(project), {"email": outsider.email, "role": Role.AUDITOR}
        )
    assert response.status_code == 400
    assert "an operator makes it active again in Django&#x27;s admin" in response.content.decode()
    outsider.refresh_from_db()
    assert not outsider.is_active
    assert not Membership.objects.filter(user=outsider, project=project).exists()
    assert not mail.outbox


def test_the_set_password_page_names_the_username_to_sign_in_with(client, invitee, platform_lead):
    """What a lead handed the link by an operator saw: "Set your password", then "Sign in",
    asking for a username the page had never named (it was only in the mail)."""
    from release_portal.accounts.services import invitation_link

    link = invitation_link(user=invitee, base_url="http://testserver/")
    html = client.get(link.replace("http://testserver", ""), follow=True).content.decode()
    assert "new_password1" in html
    assert f'<strong id="account-username">{invitee.get_username()}</strong>' in html
    assert 'autocomplete="username"' in html  # so a password manager saves the pair
