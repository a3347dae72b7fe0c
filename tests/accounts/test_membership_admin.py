"""Operators change memberships in the admin too: each change is in the change log."""

import pytest
from django.urls import reverse

from release_portal.accounts import services
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


@pytest.fixture
def written_by_the_services(monkeypatch):
    """The actions of the events ``accounts.services`` records, in order: the admin's
    changes go through them, as the Members page's do (one home for a membership change)."""
    actions: list[str] = []
    record = services.audit_record

    def recording(**kwargs):
        actions.append(kwargs["action"])
        return record(**kwargs)

    monkeypatch.setattr(services, "audit_record", recording)
    return actions


def test_each_change_in_the_admin_is_one_event_from_the_services_marked_via_admin(
    client, operator, project, platform_lead, sre, qa_lead, written_by_the_services
):
    """The admin wrote the change-log events itself, beside the services that write the same
    events for the Members page: two homes for one concept. Now each add, role change and
    removal (one, or the bulk action) goes through the services: one event each, from
    them, with ``"via": "admin"``."""
    client.force_login(operator)

    def events():
        return list(AuditEvent.objects.filter(action__startswith="member.").order_by("pk"))

    added = client.post(
        reverse("admin:accounts_membership_add"),
        {"user": sre.pk, "project": project.pk, "role": Role.AUDITOR},
    )
    made = Membership.objects.get(user=sre, role=Role.AUDITOR)
    change = reverse("admin:accounts_membership_change", args=[made.pk])
    changed = client.post(change, {"role": Role.QA_LEAD, "user": qa_lead.pk})  # user: read-only
    delete = reverse("admin:accounts_membership_delete", args=[made.pk])
    removed = client.post(delete, {"post": "yes"})
    bulk = list(Membership.objects.filter(user__in=[sre, qa_lead]).values_list("pk", flat=True))
    removed_together = client.post(
        reverse("admin:accounts_membership_changelist"),
        {"action": "delete_selected", "_selected_action": bulk, "post": "yes"},
    )
    assert [r.status_code for r in (added, changed, removed, removed_together)] == [302] * 4

    assert [(e.action, e.data) for e in events()[:3]] == [
        ("member.add", {"user": "sre", "email": "sre@example.com", "role": "auditor",
                        "new_account": False, "via": "admin"}),
        ("member.role_change", {"user": "sre", "before": "auditor", "after": "qa_lead",
                                "via": "admin"}),
        ("member.remove", {"user": "sre", "role": "qa_lead", "via": "admin"}),
    ]  # fmt: skip
    assert sorted((e.data["user"], e.data["role"]) for e in events()[3:]) == [
        ("qa", "qa_lead"),
        ("sre", "sre"),
    ]
    assert all(e.data["via"] == "admin" and e.actor_name == "ops" for e in events())
    assert written_by_the_services == [e.action for e in events()]
    # The change log tells an operator's fix from a lead's decision.
    client.force_login(platform_lead)
    log = client.get(reverse("audit_log")).content.decode()
    assert "changed sre&#x27;s role from Auditor to QA lead in Django&#x27;s admin" in log
    assert "added sre as Auditor in Django&#x27;s admin" in log
    assert not Membership.objects.filter(user__in=[sre, qa_lead]).exists()
    assert Membership.objects.filter(project=project).count() == 1  # the lead's, untouched


def test_the_members_pages_events_say_nothing_of_via(client, project, platform_lead, sre):
    """``via`` marks the admin's changes only: an invitation, a role change and a removal
    made on the Members page are recorded as they always were."""
    client.force_login(platform_lead)
    client.post(
        reverse("project_members", kwargs={"slug": project.slug}),
        {"email": "sre@example.com", "role": Role.AUDITOR},
    )
    made = Membership.objects.get(user=sre, role=Role.AUDITOR)
    client.post(
        reverse("membership_role", kwargs={"slug": project.slug, "pk": made.pk}),
        {"role": Role.QA_LEAD},
    )
    client.post(reverse("membership_delete", kwargs={"slug": project.slug, "pk": made.pk}))
    events = AuditEvent.objects.filter(action__startswith="member.").order_by("pk")
    assert [(e.action, e.data) for e in events] == [
        ("member.add", {"user": "sre", "email": "sre@example.com", "role": "auditor",
                        "new_account": False}),
        ("member.role_change", {"user": "sre", "before": "auditor", "after": "qa_lead"}),
        ("member.remove", {"user": "sre", "role": "qa_lead"}),
    ]  # fmt: skip


def test_a_role_change_the_services_refuse_is_a_form_error_in_the_admin(
    client, operator, project, platform_lead, sre
):
    """The admin checked only the last platform lead: an operator changed their own role
    there, which nobody may do on the Members page, and giving someone a role they hold
    here already failed inside the save (an IntegrityError, a server error). The
    services' refusals are now the change form's errors: the form again with the reason,
    the row as it was, no event."""
    client.force_login(operator)
    own = Membership.objects.create(user=operator, project=project, role=Role.SRE)
    second = Membership.objects.create(user=sre, project=project, role=Role.AUDITOR)
    refusals = [
        (own, Role.AUDITOR, "You cannot change your own role, in the admin either: another "
                            "operator or a platform lead of Ibimina can."),
        (second, Role.SRE, "sre is already SRE / on-call here."),
    ]  # fmt: skip
    for membership, role, reason in refusals:
        url = reverse("admin:accounts_membership_change", args=[membership.pk])
        response = client.post(url, {"role": role})
        assert response.status_code == 200
        assert reason in response.content.decode()
        assert Membership.objects.get(pk=membership.pk).role == membership.role

    # Saving one's own row unchanged changes nothing, so nothing is refused.
    unchanged = client.post(
        reverse("admin:accounts_membership_change", args=[own.pk]), {"role": Role.SRE}
    )
    assert unchanged.status_code == 302
    assert not AuditEvent.objects.filter(action__startswith="member.").exists()


def test_membership_add_refuses_a_role_held_already(project, operator, sre):
    """The admin's form refuses it first (the unique constraint); the service holds the
    rule for any other caller, as member_invite does."""
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="sre is already SRE / on-call here"):
        services.membership_add(
            user=sre, project=project, role=Role.SRE, added_by=operator, via="admin"
        )
    assert not AuditEvent.objects.exists()


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
