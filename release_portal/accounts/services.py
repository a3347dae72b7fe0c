"""Membership changes. Each one is audited in its own transaction."""

from __future__ import annotations

import logging
import re
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from release_portal.accounts.models import Membership
from release_portal.accounts.roles import Role, forget_roles
from release_portal.accounts.signals import role_lost
from release_portal.audit.services import audit_record

logger = logging.getLogger(__name__)


def _username_from_email(email: str) -> str:
    User = get_user_model()
    base = re.sub(r"[^\w.@+-]", "", email.split("@")[0])[:100] or "user"
    candidate, n = base, 1
    while User.objects.filter(username__iexact=candidate).exists():
        n += 1
        candidate = f"{base}{n}"
    return candidate


def invitation_link(*, user: Any, base_url: str) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    path = reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token})
    return base_url.rstrip("/") + path


@transaction.atomic
def member_invite(
    *, project: Any, email: str, role: Role | str, invited_by: Any, base_url: str
) -> Membership:
    """Give ``email`` a role in ``project``; a newcomer gets an account and a password link."""
    User = get_user_model()
    email = email.strip()
    user = User.objects.select_for_update().filter(email__iexact=email).first()
    created = user is None
    if user is None:
        user = User(username=_username_from_email(email), email=email)
        user.set_unusable_password()
        user.save()
    enabled = not created and _enable_revoked_invitee(user, email)
    membership = _role_given(user=user, project=project, role=role, by=invited_by, named=email,
                             email=email, new_account=created,
                             account_enabled=enabled)  # fmt: skip
    # Someone invited before who never set a password has no account to sign in with:
    # they get a link to set one, as a newcomer does.
    needs_password = created or is_pending(user)
    link = invitation_link(user=user, base_url=base_url) if needs_password else base_url
    _send_invitation(project=project, user=user, role=Role(role).label, by=invited_by,
                     link=link, new_account=needs_password)  # fmt: skip
    membership.invite_link = link if needs_password else None
    return membership


def _enable_revoked_invitee(user: Any, email: str) -> bool:
    """A disabled account invited again. What a revoked invitation left (never signed in,
    no password, no role anywhere) is enabled again, as a newcomer's would be made, and
    True is returned; any other disabled account was disabled by an operator, and a lead
    does not undo that (it may hold roles elsewhere): refused, saying who can. False for
    an active account. Before, the invitation was "sent" and the person was told to sign
    in with an account that could not."""
    if user.is_active:
        return False
    revoked = _never_used(user) and not Membership.objects.filter(user=user).exists()
    if not revoked:
        raise ValidationError(
            f"{email} belongs to an account an operator disabled: an operator makes it "
            "active again in Django's admin (People, Active) before it can be invited."
        )
    user.is_active = True
    user.save(update_fields=["is_active"])
    return True


@transaction.atomic
def membership_add(
    *, user: Any, project: Any, role: Role | str, added_by: Any, via: str = ""
) -> Membership:
    """Give an account that exists a role in ``project``: no email, no invitation (Django's
    admin, where an operator adds someone)."""
    return _role_given(user=user, project=project, role=role, by=added_by, via=via,
                       named=user.get_username(), email=user.email, new_account=False)  # fmt: skip


def _role_given(
    *,
    user: Any,
    project: Any,
    role: Role | str,
    by: Any,
    named: str,
    email: str,
    new_account: bool,
    via: str = "",
    account_enabled: bool = False,
) -> Membership:
    """The one place a role is given and recorded (member_invite, membership_add). Refused,
    naming the person as ``named``, when they hold the role here already."""
    membership, added = Membership.objects.get_or_create(user=user, project=project, role=role)
    if not added:
        raise ValidationError(f"{named} is already {membership.get_role_display()} here.")
    data = {"user": user.get_username(), "email": email, "role": str(role),
            "new_account": new_account}  # fmt: skip
    if account_enabled:  # a revoked invitation's account, enabled again by this one
        data["account_enabled"] = True
    audit_record(
        actor=by, action="member.add", obj=membership, project=project, data=_with_via(data, via)
    )
    forget_roles(by)
    return membership


def _with_via(data: dict[str, Any], via: str) -> dict[str, Any]:
    """An event's data, saying where the change was made when that was not the Members page
    (``via="admin"``): an auditor tells an operator's fix from a lead's decision. The Members
    page's events carry no ``via``, as they always have."""
    return {**data, "via": via} if via else data


@transaction.atomic
def membership_remove(*, membership: Membership, removed_by: Any, via: str = "") -> None:
    """Remove one role. The last platform lead of a project cannot be removed."""
    locked = Membership.objects.select_for_update().get(pk=membership.pk)
    if locked.role == Role.PLATFORM_LEAD:
        refuse_last_lead(locked.project_id)
    audit_record(
        actor=removed_by,
        action="member.remove",
        obj=locked,
        project=locked.project_id,
        data=_with_via({"user": locked.user.get_username(), "role": locked.role}, via),
    )
    locked.delete()
    forget_roles(removed_by)
    role_lost.send(
        sender=Membership, user=locked.user, project_id=locked.project_id,
        role=Role(locked.role), actor=removed_by,
    )  # fmt: skip


LAST_LEAD = "This is the project's last platform lead: add another one first."


def refuse_last_lead(project_id: int, *, removing: int = 1, message: str = LAST_LEAD) -> None:
    """A project always keeps a platform lead: call it before ``removing`` of its leads'
    roles go (the Members page, invitations, Django's admin). The leads' rows stay locked
    until the change commits, so two removals cannot both pass."""
    leads = Membership.objects.select_for_update().filter(
        project_id=project_id, role=Role.PLATFORM_LEAD
    )
    if leads.count() <= removing:
        raise ValidationError(message)


def refuse_deactivating_last_lead(user: Any) -> None:
    """A project always keeps a platform lead who can sign in: call it before ``user`` is
    deactivated (Django's admin). Locks as refuse_last_lead."""
    led = Membership.objects.filter(user=user, role=Role.PLATFORM_LEAD).select_related("project")
    for membership in led:
        others = (
            Membership.objects.select_for_update(of=("self",))
            .active_leads()
            .filter(project_id=membership.project_id)
            .exclude(user=user)
        )
        if not others.exists():
            raise ValidationError(
                f"{user.get_username()} is the last active platform lead of "
                f"{membership.project}: give someone else the role Platform lead first."
            )


OWN_ROLE = "You cannot change your own role: another platform lead can."


def refuse_role_change(
    membership: Membership,
    role: Role | str,
    changed_by: Any,
    *,
    own_role: str = OWN_ROLE,
    last_lead: str = LAST_LEAD,
) -> None:
    """Why ``changed_by`` may not give ``membership`` the role ``role`` instead, as a
    ValidationError: never one's own role (someone else changes it), never a role the
    person already holds here, never away from the project's last platform lead (whose
    rows stay locked, as refuse_last_lead's). Called by membership_change_role under its
    lock, and by the admin's form so that a refusal is a form error there; ``own_role``
    and ``last_lead`` are the messages, for a page that words them its own way."""
    role = Role(role)
    if membership.user_id == getattr(changed_by, "pk", None):
        raise ValidationError(own_role)
    if membership.role == role:
        return
    if Membership.objects.filter(
        user_id=membership.user_id, project_id=membership.project_id, role=role
    ).exists():
        raise ValidationError(f"{membership.user.get_username()} is already {role.label} here.")
    if membership.role == Role.PLATFORM_LEAD:
        refuse_last_lead(membership.project_id, message=last_lead)


@transaction.atomic
def membership_change_role(
    *, membership: Membership, role: Role | str, changed_by: Any, via: str = ""
) -> Membership:
    """Give a member another role instead of this one (a platform lead's action, or an
    operator's in Django's admin); refuse_role_change says when not."""
    locked = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
    role = Role(role)
    refuse_role_change(locked, role, changed_by)
    if locked.role == role:
        return locked
    before = locked.role
    locked.role = role
    locked.save(update_fields=["role"])
    audit_record(
        actor=changed_by,
        action="member.role_change",
        obj=locked,
        project=locked.project_id,
        data=_with_via(
            {"user": locked.user.get_username(), "before": before, "after": str(role)}, via
        ),
    )
    forget_roles(changed_by)
    role_lost.send(
        sender=Membership, user=locked.user, project_id=locked.project_id, role=Role(before),
        actor=changed_by,
    )  # fmt: skip
    return locked


def is_pending(user: Any) -> bool:
    """Invited and never signed in: no password set yet, never logged in."""
    return bool(user.is_active and _never_used(user))


def _never_used(user: Any) -> bool:
    """No password set yet and never signed in: an invitation's account, pending or (when
    disabled) revoked."""
    return user.last_login is None and not user.has_usable_password()


def pending_invitations(project: Any) -> list[dict[str, Any]]:
    """People invited to ``project`` who have not set their password yet, with their roles."""
    rows: dict[int, dict[str, Any]] = {}
    memberships = (
        Membership.objects.filter(
            project=project, user__last_login__isnull=True, user__is_active=True
        )
        .select_related("user")
        .order_by("created_at", "pk")
    )
    for m in memberships:
        if not is_pending(m.user):
            continue
        row = rows.setdefault(m.user_id, {"user": m.user, "roles": [], "invited_at": m.created_at})
        row["roles"].append(m.get_role_display())
    return list(rows.values())


def _pending_member(project: Any, user_id: int) -> Any:
    User = get_user_model()
    held = Membership.objects.filter(project=project, user_id=user_id)
    user = User.objects.select_for_update().filter(pk=user_id).first() if held.exists() else None
    if user is None or not is_pending(user):
        raise ValidationError("There is no pending invitation for this person here.")
    return user


def _send_invitation(
    *, project: Any, user: Any, role: str, by: Any, link: str, new_account: bool = True
) -> None:
    """Mail the invitation once the transaction commits (a rollback sends nothing)."""
    context = {"project": project, "role": role, "link": link, "new_account": new_account,
               "invited_by": by, "user": user}  # fmt: skip
    email = user.email
    transaction.on_commit(
        lambda: send_mail(
            subject=f"You have been added to {project.name} on Release Portal",
            message=render_to_string("release_portal/accounts/invitation_email.txt", context),
            from_email=None,
            recipient_list=[email],
        ),
        robust=True,
    )


@transaction.atomic
def invitation_resend(*, project: Any, user_id: int, by: Any, base_url: str) -> str:
    """Mail a pending invitation again, with a fresh link; returns the link."""
    user = _pending_member(project, user_id)
    roles = [m.get_role_display() for m in Membership.objects.filter(project=project, user=user)]
    link = invitation_link(user=user, base_url=base_url)
    audit_record(
        actor=by,
        action="member.invite_resend",
        obj=user,
        project=project,
        data={"user": user.get_username(), "email": user.email},
    )
    _send_invitation(project=project, user=user, role=", ".join(roles), by=by, link=link)
    return link


@transaction.atomic
def invitation_revoke(*, project: Any, user_id: int, by: Any) -> Any:
    """Withdraw a pending invitation: the person's roles here go; when they are left with
    none anywhere, the account is disabled and its links stop working."""
    user = _pending_member(project, user_id)
    memberships = list(Membership.objects.filter(project=project, user=user))
    roles = [m.role for m in memberships]
    if Role.PLATFORM_LEAD in roles:
        refuse_last_lead(
            project.pk,
            message="This is the project's only platform lead: invite another one before revoking.",
        )
    Membership.objects.filter(pk__in=[m.pk for m in memberships]).delete()
    disabled = not Membership.objects.filter(user=user).exists()
    if disabled:
        user.set_unusable_password()  # a new hash: every link made for the old one fails
        user.is_active = False
        user.save(update_fields=["password", "is_active"])
    audit_record(
        actor=by,
        action="member.invite_revoke",
        obj=user,
        project=project,
        data={"user": user.get_username(), "roles": roles, "account_disabled": disabled},
    )
    forget_roles(by)
    return user
