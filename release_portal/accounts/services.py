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
    user = User.objects.filter(email__iexact=email).first()
    created = user is None
    if user is None:
        user = User(username=_username_from_email(email), email=email)
        user.set_unusable_password()
        user.save()
    membership, added = Membership.objects.get_or_create(user=user, project=project, role=role)
    if not added:
        raise ValidationError(f"{email} is already {membership.get_role_display()} here.")
    audit_record(
        actor=invited_by,
        action="member.add",
        obj=membership,
        project=project,
        data={
            "user": user.get_username(),
            "email": email,
            "role": str(role),
            "new_account": created,
        },
    )
    forget_roles(invited_by)
    link = invitation_link(user=user, base_url=base_url) if created else base_url
    context = {"project": project, "role": Role(role).label, "link": link, "new_account": created,
               "invited_by": invited_by, "user": user}  # fmt: skip
    transaction.on_commit(
        lambda: send_mail(
            subject=f"You have been added to {project.name} on Release Portal",
            message=render_to_string("release_portal/accounts/invitation_email.txt", context),
            from_email=None,
            recipient_list=[email],
        ),
        robust=True,
    )
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, removed_by: Any) -> None:
    """Remove one role. The last platform lead of a project cannot be removed."""
    locked = Membership.objects.select_for_update().get(pk=membership.pk)
    if locked.role == Role.PLATFORM_LEAD:
        leads = Membership.objects.select_for_update().filter(
            project_id=locked.project_id, role=Role.PLATFORM_LEAD
        )
        if leads.count() <= 1:
            raise ValidationError(
                "This is the project's last platform lead: add another one first."
            )
    audit_record(
        actor=removed_by,
        action="member.remove",
        obj=locked,
        project=locked.project_id,
        data={"user": locked.user.get_username(), "role": locked.role},
    )
    locked.delete()
    forget_roles(removed_by)
