import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

from release_portal.accounts.models import Membership
from release_portal.accounts.roles import Action, Role, can
from release_portal.audit.models import AuditEvent


def members_url(project):
    return reverse("project_members", kwargs={"slug": project.slug})


def test_a_platform_lead_sees_the_members_page(client, personas, project):
    client.force_login(personas["platform_lead"])
    response = client.get(members_url(project))
    assert response.status_code == 200
    for username in ("lead", "releng", "qa", "sre", "auditor"):
        assert username in response.content.decode()


@pytest.mark.parametrize("role", ["release_engineer", "qa_lead", "sre", "auditor"])
def test_other_roles_may_not_manage_members(client, personas, project, role):
    client.force_login(personas[role])
    assert client.get(members_url(project)).status_code == 403
    response = client.post(members_url(project), {"email": "x@example.com", "role": "sre"})
    assert response.status_code == 403
    assert not Membership.objects.filter(user__email="x@example.com").exists()


def test_a_refusal_names_who_may_not_an_internal_code(client, personas, project):
    """What the auditor read: "do not allow this (manage_members)", the action's code."""
    client.force_login(personas["auditor"])
    html = client.get(members_url(project)).content.decode()
    assert "do not allow this: it needs the role Platform lead." in html
    assert "manage_members" not in html
    from release_portal.accounts.access import refusal

    assert refusal(Action.MANAGE_BACKUPS, project).endswith(
        "it needs the role Platform lead or SRE / on-call."
    )


def test_another_projects_lead_gets_404(client, personas, project):
    client.force_login(personas["outsider"])
    assert client.get(members_url(project)).status_code == 404
    membership = Membership.objects.filter(project=project).first()
    url = reverse("membership_delete", kwargs={"slug": project.slug, "pk": membership.pk})
    assert client.post(url).status_code == 404
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_a_lead_cannot_delete_a_membership_of_another_project_through_their_own(
    client, personas, project, other_project
):
    client.force_login(personas["outsider"])
    victim = Membership.objects.filter(project=project).first()
    url = reverse("membership_delete", kwargs={"slug": other_project.slug, "pk": victim.pk})
    assert client.post(url).status_code == 404
    assert Membership.objects.filter(pk=victim.pk).exists()


def test_inviting_a_new_person_creates_an_account_and_mails_a_link(
    client, personas, project, django_capture_on_commit_callbacks
):
    client.force_login(personas["platform_lead"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(members_url(project), {"email": "Nia@Example.com", "role": Role.SRE})
    assert response.status_code == 302
    user = get_user_model().objects.get(email="Nia@Example.com")
    assert not user.has_usable_password()
    assert can(user, Action.MANAGE_BACKUPS, project)
    assert len(mail.outbox) == 1
    assert "/accounts/reset/" in mail.outbox[0].body
    event = AuditEvent.objects.get(action="member.add")
    assert event.actor_name == "lead"
    assert event.data["role"] == "sre"
    assert event.project_id == project.pk


def test_the_invitation_link_sets_a_password_and_signs_in(
    client, personas, project, django_capture_on_commit_callbacks
):
    client.force_login(personas["platform_lead"])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(members_url(project), {"email": "nia@example.com", "role": Role.QA_LEAD})
    client.logout()
    link = next(line for line in mail.outbox[0].body.splitlines() if "/accounts/reset/" in line)
    path = link.split("testserver", 1)[1].strip()
    response = client.get(path, follow=True)
    assert response.status_code == 200
    form_url = response.redirect_chain[-1][0]
    response = client.post(
        form_url,
        {"new_password1": "a-sturdy-passphrase-9", "new_password2": "a-sturdy-passphrase-9"},
    )
    assert response.status_code == 302
    response = client.post(
        reverse("login"), {"username": "nia", "password": "a-sturdy-passphrase-9"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard")


def test_inviting_an_existing_member_twice_is_refused(client, personas, project):
    client.force_login(personas["platform_lead"])
    response = client.post(members_url(project), {"email": "qa@example.com", "role": "qa_lead"})
    assert response.status_code == 400
    assert "already QA lead" in response.content.decode()
    assert Membership.objects.filter(user__username="qa").count() == 1


def test_an_existing_account_gets_a_second_role(client, personas, project):
    client.force_login(personas["platform_lead"])
    response = client.post(members_url(project), {"email": "qa@example.com", "role": "auditor"})
    assert response.status_code == 302
    qa = personas["qa_lead"]
    assert set(Membership.objects.filter(user=qa).values_list("role", flat=True)) == {
        "qa_lead",
        "auditor",
    }


def test_removing_the_last_platform_lead_is_refused(client, personas, project):
    lead = personas["platform_lead"]
    client.force_login(lead)
    membership = Membership.objects.get(user=lead, project=project)
    url = reverse("membership_delete", kwargs={"slug": project.slug, "pk": membership.pk})
    response = client.post(url, follow=True)
    assert "last platform lead" in response.content.decode()
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_removing_a_role_is_audited(client, personas, project):
    client.force_login(personas["platform_lead"])
    membership = Membership.objects.get(user=personas["sre"], project=project)
    url = reverse("membership_delete", kwargs={"slug": project.slug, "pk": membership.pk})
    assert client.post(url).status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert AuditEvent.objects.get(action="member.remove").data == {"user": "sre", "role": "sre"}


def test_invite_form_errors_are_escaped(client, personas, project):
    client.force_login(personas["platform_lead"])
    response = client.post(members_url(project), {"email": "<script>x</script>", "role": "sre"})
    assert response.status_code == 400
    assert b"<script>x</script>" not in response.content
