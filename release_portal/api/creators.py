"""An API token ends with its creator's platform-lead role.

A token is made by a platform lead, who saw its secret once and may have kept a copy.
When that person stops being a platform lead of the token's project (removed, or given
another role: ``accounts.signals.role_lost``) or can no longer sign in (deactivated or
deleted, in Django's admin or anywhere else: ``accounts.signals.sign_in_ended``), every
live token they made there is revoked through ``token_revoke``, one ``api_token.revoke``
event each naming the reason, in the transaction of that change: a rollback of the change
keeps the tokens working. The project's other active platform leads then get a mail per
token (an ``ExpiryMail`` of kind *revoked*, kept until it is sent and tried again as the
expiry mails are) so that they make its successor for CI; it names the token as the
tokens page does, never its secret.

A lead who also holds another role and loses only that one keeps their tokens, and so
does every token whose creator is still a platform lead.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from release_portal.accounts.models import Membership
from release_portal.accounts.roles import Role
from release_portal.api.expiry import active_leads, mails_queue
from release_portal.api.models import ApiToken, ExpiryMail
from release_portal.api.tokens import token_revoke, tokens_page
from release_portal.templatetags.portal import utc_time


def lead_role_lost(*, user: Any, project_id: int, role: Any, actor: Any) -> list[ApiToken]:
    """``user`` lost ``role`` in the project (``role_lost``): when it was their platform
    lead role, the tokens they made for that project are revoked."""
    if role != Role.PLATFORM_LEAD:
        return []
    held = [
        Role(r)
        for r in Membership.objects.filter(user=user, project_id=project_id).values_list(
            "role", flat=True
        )
    ]
    if Role.PLATFORM_LEAD in held:
        return []
    how = f"now {', '.join(str(r.label) for r in held)}" if held else "removed from the project"
    return tokens_of_a_former_lead_revoke(creator=user, project_id=project_id, actor=actor, how=how)


def sign_in_ended(*, user: Any, actor: Any, how: str) -> list[ApiToken]:
    """``user`` can no longer sign in (``sign_in_ended``): none of their tokens works, in
    any project."""
    return tokens_of_a_former_lead_revoke(creator=user, project_id=None, actor=actor, how=how)


@transaction.atomic
def tokens_of_a_former_lead_revoke(
    *, creator: Any, project_id: int | None, actor: Any, how: str
) -> list[ApiToken]:
    """Revoke the live tokens ``creator`` made (for ``project_id``; in every project when
    None), saying ``how`` they stopped being a lead, and queue the other leads' mails;
    returns the tokens revoked."""
    now = timezone.now()
    live = ApiToken.objects.live(now).filter(created_by=creator)
    if project_id is not None:
        live = live.filter(project_id=project_id)
    reason = f"its creator {creator.get_username()} is no longer a platform lead here ({how})"
    # Locked first, so a lead revoking one of them by hand meanwhile waits for this change
    # instead of making token_revoke refuse it (which would refuse the whole change).
    locked = live.select_for_update(of=("self",)).select_related("project")
    revoked = [
        token_revoke(token=token, user=actor, reason=reason)
        for token in locked.order_by("project_id", "created_at", "pk")
    ]
    for token in revoked:
        _tell_the_other_leads(token, creator=creator, actor=actor, now=now)
    return revoked


def _tell_the_other_leads(token: ApiToken, *, creator: Any, actor: Any, now: Any) -> None:
    project = token.project
    page = tokens_page(project)
    base = settings.PORTAL_BASE_URL.rstrip("/")
    by = actor.get_username() if getattr(actor, "is_authenticated", False) else ""
    context = {
        "token": token,
        "project": project,
        "revoked": utc_time(token.revoked_at),
        "reason": token.revoked_reason,
        "by": by,
        "link": f"{base}{page}",
    }
    subject = (
        f"{project.name}: the API token {token.name} was revoked: its creator "
        f"{creator.get_username()} is no longer a platform lead"
    )
    body = render_to_string("release_portal/api/token_revoked_email.txt", context)
    mails_queue(
        token=token,
        leads=active_leads(project.pk, but=creator),
        subject=subject,
        body=body,
        now=now,
        kind=ExpiryMail.Kind.REVOKED,
    )
