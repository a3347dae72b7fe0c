"""A token ends with its creator's platform-lead role: removed, given another role,
deactivated (in Django's admin or any save) or deleted, the person's live tokens of that
project are revoked with the change, saying why; the other leads get a mail."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.forms.models import model_to_dict
from django.urls import reverse

from release_portal.accounts.models import Membership
from release_portal.accounts.roles import Role, forget_roles
from release_portal.accounts.services import membership_change_role, membership_remove
from release_portal.api import tasks
from release_portal.api.models import ApiToken, ExpiryMail
from release_portal.api.tokens import token_create
from release_portal.audit.models import AuditEvent
from release_portal.audit.registry import phrase_for
from release_portal.templatetags.portal import utc_time
from tests.api.conftest import Api, url
from tests.api.test_token_expiry_notices import MailServerDown
from tests.factories import MembershipFactory, UserFactory
from tests.locking import other_connection, run_behind

pytestmark = pytest.mark.django_db


@pytest.fixture
def ana(project):
    """The project's other platform lead, who stays one."""
    user = UserFactory(username="ana")
    MembershipFactory(user=user, project=project, role=Role.PLATFORM_LEAD)
    return user


@pytest.fixture
def operator(db):
    return UserFactory(username="ops", is_superuser=True, is_staff=True)


@pytest.fixture
def tokens(project, other_project, platform_lead, ana, outsider):
    """lead's deploy token (the one that must end), ana's, and another project's."""

    def made(project, name, user, scopes=("read",)):
        return token_create(project=project, name=name, scopes=list(scopes), user=user)

    return {
        "lead": made(project, "ci-deploy", platform_lead, ("read", "report", "deploy")),
        "ana": made(project, "ana-ci", ana),
        "other": made(other_project, "theirs", outsider),
    }


def answers(client, new) -> int:
    """What a real API endpoint answers the token's whole value."""
    slug = new.token.project.slug
    return Api(client, new.value).get(url(f"/projects/{slug}/releases")).status_code


def revoked(new) -> ApiToken:
    token = ApiToken.objects.get(pk=new.token.pk)
    assert token.revoked_at is not None, f"{token.name} still works"
    return token


def live(new) -> bool:
    return ApiToken.objects.get(pk=new.token.pk).revoked_at is None


def revocations() -> list[tuple[str, str, str]]:
    return [
        (e.actor_name, e.data["name"], e.data.get("reason", ""))
        for e in AuditEvent.objects.filter(action="api_token.revoke").order_by("seq")
    ]


def test_it_revokes_the_tokens_of_a_lead_removed_on_the_members_page(
    client, project, other_project, platform_lead, ana, tokens, django_capture_on_commit_callbacks
):
    # lead leads another project too, with a token there: that one keeps working.
    elsewhere = _also_lead_of(other_project, platform_lead)
    assert answers(client, tokens["lead"]) == 200
    membership = Membership.objects.get(user=platform_lead, project=project)
    client.force_login(ana)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("membership_delete", kwargs={"slug": project.slug, "pk": membership.pk})
        )
    assert response.status_code == 302
    client.logout()

    reason = "its creator lead is no longer a platform lead here (removed from the project)"
    token = revoked(tokens["lead"])
    assert (token.revoked_reason, token.revoked_by) == (reason, ana)
    assert revocations() == [("ana", "ci-deploy", reason)]
    event = AuditEvent.objects.get(action="api_token.revoke")
    assert event.project_id == project.pk
    assert phrase_for(event) == f"revoked the API token ci-deploy: {reason}"

    response = Api(client, tokens["lead"].value).get(url("/projects/ibimina/releases"))
    assert response.status_code == 401
    error = response.json()["error"]
    assert error == (
        f"This API token (ci-deploy, rp_{token.key_id}_…) was revoked on "
        f"{utc_time(token.revoked_at)} by ana because {reason}: a platform lead of Ibimina "
        "creates a new one on the project's API tokens page (/projects/ibimina/tokens/); "
        "store it in place of this one in the CI secret."
    )
    assert tokens["lead"].value.split("_", 2)[2] not in error
    # A token whose creator is still a lead, another lead's, another project's: working.
    assert (answers(client, tokens["ana"]), answers(client, tokens["other"])) == (200, 200)
    assert answers(client, elsewhere) == 200

    # ana, the lead left, is told which token and why; nobody else, and never the secret.
    assert [m.to for m in mail.outbox] == [[ana.email]]
    sent = mail.outbox[0]
    assert sent.subject == (
        "Ibimina: the API token ci-deploy was revoked: its creator lead is no longer a "
        "platform lead"
    )
    assert f"The API token ci-deploy of Ibimina (rp_{token.key_id}_…, scopes" in sent.body
    assert f"following ana's change: {reason}. CI using it now gets 401." in sent.body
    assert "/projects/ibimina/tokens/" in sent.body
    assert tokens["lead"].value.split("_", 2)[2] not in sent.body + sent.subject
    assert ExpiryMail.objects.get().kind == ExpiryMail.Kind.REVOKED


def test_it_revokes_the_tokens_of_a_lead_given_another_role(
    client, project, platform_lead, ana, tokens
):
    membership = Membership.objects.get(user=platform_lead, project=project)
    membership_change_role(membership=membership, role=Role.SRE, changed_by=ana)

    reason = "its creator lead is no longer a platform lead here (now SRE / on-call)"
    assert revoked(tokens["lead"]).revoked_reason == reason
    assert revocations() == [("ana", "ci-deploy", reason)]
    assert answers(client, tokens["lead"]) == 401
    assert live(tokens["ana"]) and live(tokens["other"])
    assert answers(client, tokens["ana"]) == 200


def test_a_lead_who_loses_only_another_role_keeps_their_tokens(
    client, project, platform_lead, ana, tokens
):
    sre = MembershipFactory(user=platform_lead, project=project, role=Role.SRE)
    membership_remove(membership=sre, removed_by=ana)
    qa = MembershipFactory(user=platform_lead, project=project, role=Role.QA_LEAD)
    membership_change_role(membership=qa, role=Role.AUDITOR, changed_by=ana)

    assert live(tokens["lead"])
    assert answers(client, tokens["lead"]) == 200
    assert revocations() == []


def test_a_rolled_back_removal_keeps_the_tokens_and_tells_nobody(
    project, platform_lead, ana, tokens, django_capture_on_commit_callbacks
):
    membership = Membership.objects.get(user=platform_lead, project=project)
    mail.outbox.clear()
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        membership_remove(membership=membership, removed_by=ana)
        assert not live(tokens["lead"])
        raise RuntimeError("the request failed after the removal")
    assert live(tokens["lead"])
    assert revocations() == [] and not ExpiryMail.objects.exists()
    assert mail.outbox == []


def _also_lead_of(project, user):
    """``user`` leads ``project`` too, with a token there."""
    MembershipFactory(user=user, project=project, role=Role.PLATFORM_LEAD)
    forget_roles(user)
    return token_create(project=project, name="ci", scopes=["read"], user=user)


def _admin_form(user, **changes):
    """Django's admin change form of ``user``, as the browser posts it."""
    data = {**model_to_dict(user), **changes}
    for name in ("date_joined", "last_login"):  # the admin's split date and time
        moment = data.pop(name)
        if moment is not None:
            data[f"{name}_0"], data[f"{name}_1"] = moment.date(), moment.time()
    return {k: v for k, v in data.items() if v is not None and k != "password"}


def test_it_revokes_the_tokens_of_a_lead_deactivated_in_the_admin(
    client, project, other_project, platform_lead, ana, operator, tokens,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    client.force_login(operator)
    change = reverse("admin:auth_user_change", args=[platform_lead.pk])
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(change, _admin_form(platform_lead, is_active=False))
    assert response.status_code == 302, response.content.decode()[:2000]
    client.logout()
    platform_lead.refresh_from_db()
    assert not platform_lead.is_active

    reason = "its creator lead is no longer a platform lead here (account deactivated)"
    token = revoked(tokens["lead"])
    assert (token.revoked_reason, token.revoked_by) == (reason, operator)
    assert revocations() == [("ops", "ci-deploy", reason)]
    assert answers(client, tokens["lead"]) == 401
    assert live(tokens["ana"]) and live(tokens["other"])
    assert [m.to for m in mail.outbox] == [[ana.email]]
    assert "following ops's change: " in mail.outbox[0].body


def test_a_deactivation_saved_anywhere_else_revokes_them_too(
    client, project, other_project, platform_lead, ana, outsider, tokens,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    """A shell or a data fix: the model's save is the one path; nobody is named."""
    elsewhere = _also_lead_of(other_project, platform_lead)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        platform_lead.is_active = False
        platform_lead.save()

    reason = "its creator lead is no longer a platform lead here (account deactivated)"
    assert revoked(tokens["lead"]).revoked_by is None
    assert revoked(elsewhere).revoked_reason == reason
    assert sorted(revocations()) == [("system", "ci", reason), ("system", "ci-deploy", reason)]
    assert answers(client, tokens["lead"]) == 401 and answers(client, elsewhere) == 401
    assert live(tokens["ana"]) and live(tokens["other"])
    # Each project's remaining leads hear of their own project's token.
    assert sorted((m.to[0], m.subject.split(":")[0]) for m in mail.outbox) == [
        (ana.email, "Ibimina"),
        (outsider.email, "Other team"),
    ]
    # Saved again (still inactive) or active again: nothing more happens.
    platform_lead.save()
    platform_lead.is_active = True
    platform_lead.save()
    assert len(revocations()) == 2


def test_it_revokes_the_tokens_of_a_deleted_lead(
    client, project, platform_lead, ana, tokens, django_capture_on_commit_callbacks
):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        platform_lead.delete()

    token = revoked(tokens["lead"])
    assert token.created_by is None  # the reason keeps the name
    reason = "its creator lead is no longer a platform lead here (account deleted)"
    assert token.revoked_reason == reason
    assert revocations() == [("system", "ci-deploy", reason)]
    assert answers(client, tokens["lead"]) == 401
    assert live(tokens["ana"]) and live(tokens["other"])
    assert [m.to for m in mail.outbox] == [[ana.email]]


def test_the_tokens_page_says_why_and_a_refused_mail_is_tried_again(
    client, project, platform_lead, ana, tokens, monkeypatch, django_capture_on_commit_callbacks
):
    server = MailServerDown(monkeypatch)
    membership = Membership.objects.get(user=platform_lead, project=project)
    with django_capture_on_commit_callbacks(execute=True):
        membership_remove(membership=membership, removed_by=ana)
    token = revoked(tokens["lead"])
    page = reverse("project_tokens", kwargs={"slug": project.slug})
    client.force_login(ana)
    html = client.get(page).content.decode()
    assert (
        f"revoked {utc_time(token.revoked_at)}: its creator lead is no longer a platform "
        "lead here (removed from the project)"
    ) in html
    assert f"mail pending</span> to {ana.email} (try 1 failed:" in html

    server.down = False
    ExpiryMail.objects.update(next_attempt_at=token.revoked_at)
    assert tasks.token_expiry_mails() == 1  # sent although the token is revoked: it is about that
    assert [m.to for m in mail.outbox] == [[ana.email]]
    assert "mail pending" not in client.get(page).content.decode()


def test_the_tokens_page_points_out_a_live_token_whose_creator_is_no_longer_a_lead(
    client, project, platform_lead, ana, tokens
):
    """A token made before tokens ended with their creator's role (here: the role taken
    away without the portal's services, as then) still works: the page says so beside
    it, for a lead to revoke it; a current lead's token carries no such mark."""
    Membership.objects.filter(user=platform_lead, project=project).update(role=Role.SRE)
    assert live(tokens["lead"])
    client.force_login(ana)
    html = client.get(reverse("project_tokens", kwargs={"slug": project.slug})).content.decode()
    rows = {
        name: html.split(f"<span>{name}<br>", 1)[1].split("</tr>", 1)[0]
        for name in ("ci-deploy", "ana-ci")
    }
    assert "lead is no longer a platform lead here</span>" in rows["ci-deploy"]
    assert "revoke it and give CI a new one" in rows["ci-deploy"]
    assert "creator-gone" not in rows["ana-ci"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "change",
    [
        "DELETE FROM accounts_membership WHERE id = %(membership)s",
        "UPDATE accounts_membership SET role = 'sre' WHERE id = %(membership)s",
        "UPDATE auth_user SET is_active = false WHERE id = %(user)s",
    ],
    ids=["removed", "role changed", "deactivated"],
)
def test_a_token_made_while_its_creator_stops_being_a_lead_is_refused(
    project, platform_lead, ana, change
):
    """token_create read the roles unlocked: a token made while the removal was being
    committed outlived the role (the removal's revocation had not seen it)."""
    membership = Membership.objects.get(user=platform_lead, project=project)
    with other_connection() as change_made:  # the change, not committed yet
        change_made.execute(change, {"membership": membership.pk, "user": platform_lead.pk})

        def create() -> object:
            lead = get_user_model().objects.get(pk=platform_lead.pk)
            return token_create(project=project, name="ci", scopes=["read"], user=lead)

        outcome = run_behind(change_made, "token_create", create)
    assert [type(o) for o in outcome] == [PermissionDenied]
    assert not ApiToken.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_removal_while_a_lead_revokes_the_token_by_hand_still_goes_through(
    project, platform_lead, ana, tokens
):
    """The removal read the live tokens unlocked: one revoked by hand meanwhile made
    token_revoke refuse ("already revoked"), and the removal with it."""
    membership = Membership.objects.get(user=platform_lead, project=project)
    with other_connection() as by_hand:  # ana's revocation, not committed yet
        by_hand.execute(
            "UPDATE api_apitoken SET revoked_at = now(), revoked_by_id = %s WHERE id = %s",
            [ana.pk, tokens["lead"].token.pk],
        )
        outcome = run_behind(
            by_hand,
            "membership_remove",
            lambda: membership_remove(membership=membership, removed_by=ana),
        )
    assert outcome == [None]
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert revoked(tokens["lead"]).revoked_reason == ""  # ana's revocation stands
    assert revocations() == []
