"""Operators change memberships in the admin too: each change is in the change log."""

import pytest
from django.urls import reverse

from release_portal.accounts.models import Membership
from release_portal.accounts.roles import Role
from release_portal.audit.models import AuditEvent
from tests.factories import UserFactory


@pytest.fixture
def operator(db):
    return UserFactory(username="ops", is_superuser=True, is_staff=True)


def test_adding_changing_and_removing_a_role_in_the_admin_is_audited(
    client, operator, project, platform_lead, sre
):
    """What the auditor missed: a role given, changed or taken away in /admin/ left no
    event in the change log, only in the admin's own history."""
    client.force_login(operator)
    add = client.post(
        reverse("admin:accounts_membership_add"),
        {"user": sre.pk, "project": project.pk, "role": Role.PLATFORM_LEAD},
    )
    assert add.status_code == 302
    made = Membership.objects.get(user=sre, role=Role.PLATFORM_LEAD)
    event = AuditEvent.objects.get(action="member.add")
    assert event.actor_name == "ops" and event.project_id == project.pk
    assert event.data["role"] == "platform_lead" and event.data["user"] == "sre"

    change = client.post(
        reverse("admin:accounts_membership_change", args=[made.pk]), {"role": Role.AUDITOR}
    )
    assert change.status_code == 302
    event = AuditEvent.objects.get(action="member.role_change")
    assert event.data == {"user": "sre", "before": "platform_lead", "after": "auditor",
                          "via": "admin"}  # fmt: skip

    delete = client.post(
        reverse("admin:accounts_membership_delete", args=[made.pk]), {"post": "yes"}
    )
    assert delete.status_code == 302
    assert not Membership.objects.filter(pk=made.pk).exists()
    event = AuditEvent.objects.get(action="member.remove")
    assert event.data["role"] == "auditor" and event.actor_name == "ops"


def test_the_bulk_delete_action_is_audited_too(client, operator, project, sre, qa_lead):
    client.force_login(operator)
    ids = list(Membership.objects.filter(user__in=[sre, qa_lead]).values_list("pk", flat=True))
    response = client.post(
        reverse("admin:accounts_membership_changelist"),
        {"action": "delete_selected", "_selected_action": ids, "post": "yes"},
    )
    assert response.status_code == 302
    assert not Membership.objects.filter(pk__in=ids).exists()
    assert AuditEvent.objects.filter(action="member.remove").count() == 2


def test_the_admin_never_takes_a_projects_last_platform_lead_away(
    client, operator, project, platform_lead, sre
):
    """What an operator could do: delete the only lead's role, or change it, in /admin/,
    which the Members page refuses. The admin now refuses it with the same rule, saying
    why, and changes nothing."""
    client.force_login(operator)
    lead = Membership.objects.get(user=platform_lead, role=Role.PLATFORM_LEAD)
    refused = "Ibimina would be left without a platform lead (lead)"
    delete = reverse("admin:accounts_membership_delete", args=[lead.pk])
    for response in (client.get(delete), client.post(delete, {"post": "yes"})):
        assert response.status_code == 200  # "Cannot delete membership", and why
        assert refused in response.content.decode()

    change = client.post(
        reverse("admin:accounts_membership_change", args=[lead.pk]), {"role": Role.SRE}
    )
    assert change.status_code == 200  # the form again, with the reason
    assert "give someone else the role Platform lead first" in change.content.decode()

    everyone = list(Membership.objects.filter(project=project).values_list("pk", flat=True))
    bulk = client.post(
        reverse("admin:accounts_membership_changelist"),
        {"action": "delete_selected", "_selected_action": everyone, "post": "yes"},
    )
    assert refused in bulk.content.decode()

    lead.refresh_from_db()
    assert lead.role == Role.PLATFORM_LEAD
    assert Membership.objects.filter(project=project).count() == len(everyone)
    assert not AuditEvent.objects.filter(action__startswith="member.").exists()


def test_a_lead_goes_in_the_admin_once_another_lead_is_there(
    client, operator, project, platform_lead, sre
):
    client.force_login(operator)
    Membership.objects.create(user=sre, project=project, role=Role.PLATFORM_LEAD)
    lead = Membership.objects.get(user=platform_lead, role=Role.PLATFORM_LEAD)
    response = client.post(
        reverse("admin:accounts_membership_delete", args=[lead.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=lead.pk).exists()
    assert AuditEvent.objects.get(action="member.remove").data["user"] == "lead"


def test_people_are_deactivated_in_the_admin_never_deleted(client, operator, project, sre):
    """Deleting someone in /admin/ took their roles away with no event in the change log
    (and could take a project's last platform lead): the admin offers no delete of people;
    unticking Active is the way, and it keeps their roles and events."""
    client.force_login(operator)
    page = client.get(reverse("admin:auth_user_change", args=[sre.pk])).content.decode()
    delete_url = reverse("admin:auth_user_delete", args=[sre.pk])
    assert delete_url not in page
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    listed = client.get(reverse("admin:auth_user_changelist")).content.decode()
    assert "delete_selected" not in listed
    assert Membership.objects.filter(user=sre, project=project).exists()
    assert not AuditEvent.objects.filter(action="member.remove").exists()


def test_a_projects_last_active_lead_is_not_deactivated(operator, project, platform_lead, sre):
    """Unticking Active on the only platform lead left the project with nobody who could
    sign in to lead it; the admin's person form refuses it, and allows it once another
    active lead holds the role."""
    from django.contrib import admin
    from django.contrib.auth import get_user_model
    from django.forms.models import model_to_dict
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = operator
    person_admin = admin.site._registry[get_user_model()]

    def deactivate(user):
        """The admin's own form for ``user``, posted with Active unticked."""
        data = {**model_to_dict(user), "is_active": False}
        for name in ("date_joined", "last_login"):  # the admin's split date and time
            moment = data.pop(name)
            if moment is not None:
                data[f"{name}_0"], data[f"{name}_1"] = moment.date(), moment.time()
        data = {k: v for k, v in data.items() if v is not None}
        form_class = person_admin.get_form(request, user, fields=None)
        return form_class(instance=user, data=data)

    refused = deactivate(platform_lead)
    assert not refused.is_valid()
    assert "last active platform lead of" in refused.errors["is_active"][0]

    Membership.objects.create(user=sre, project=project, role=Role.PLATFORM_LEAD)
    allowed = deactivate(platform_lead)
    assert allowed.is_valid(), allowed.errors
    sre.is_active = False
    sre.save(update_fields=["is_active"])
    platform_lead.refresh_from_db()  # the valid form set its copy inactive
    assert not deactivate(platform_lead).is_valid()  # the other lead cannot sign in
