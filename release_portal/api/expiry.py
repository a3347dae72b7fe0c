"""Telling a project's platform leads, once per token, that an API token enters its last
days (EXPIRES_SOON), while there is time to put its successor in the CI secret.

Celery beat runs ``token_expiry_notices`` daily (``api.tasks``). Each notice goes the way
the portal's other notices go (``webhooks.events.announce``): a ``notify.api_token.expiring``
event in the change log and a message to the project's webhooks subscribed to
``api_token.expiring``, in the transaction that claims the token; and, once that commits,
a mail to each of the project's active platform leads (through the mail settings that
send invitations).
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.core.mail import send_mass_mail
from django.db import transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.utils import timezone

from release_portal.accounts.models import Membership
from release_portal.accounts.roles import Role
from release_portal.api.models import EXPIRES_SOON, ApiToken
from release_portal.api.tokens import tokens_page
from release_portal.templatetags.portal import utc_time
from release_portal.webhooks import events

logger = logging.getLogger(__name__)


def expiring_unannounced(now: datetime) -> QuerySet[ApiToken]:
    """Live tokens that expire within EXPIRES_SOON of ``now`` and were not announced yet
    (never a revoked or expired one, nor one that never expires)."""
    return ApiToken.objects.filter(
        revoked_at__isnull=True,
        expires_at__gt=now,
        expires_at__lte=now + EXPIRES_SOON,
        expiry_notified_at__isnull=True,
    )


def token_expiry_notices(*, now: datetime | None = None) -> int:
    """Announce every token entering its last days, each in its own transaction (one that
    fails is logged and left for the next run); returns how many this run announced."""
    now = now or timezone.now()
    ids = expiring_unannounced(now).order_by("expires_at", "pk").values_list("pk", flat=True)
    announced = 0
    for token_id in list(ids):
        try:
            announced += token_expiry_notify(token_id=token_id, now=now)
        except Exception:
            logger.exception("API token %s: could not announce its expiry", token_id)
    return announced


@transaction.atomic
def token_expiry_notify(*, token_id: int, now: datetime) -> bool:
    """Tell the token's project that it expires soon, unless that was done already;
    returns whether this call told it.

    The token is claimed by one conditional UPDATE (still live, in its last days, not yet
    announced) in the transaction that writes the notice: a second run or a second worker
    waits on the row until the first commits, then finds it announced and sends nothing.
    A rollback leaves it unannounced for the next run.
    """
    if not expiring_unannounced(now).filter(pk=token_id).update(expiry_notified_at=now):
        return False
    token = ApiToken.objects.select_related("project").get(pk=token_id)
    project = token.project
    page = tokens_page(project)
    leads = [
        m.user
        for m in Membership.objects.filter(
            project=project, role=Role.PLATFORM_LEAD, user__is_active=True
        )
        .select_related("user")
        .order_by("user__username")
    ]
    when = utc_time(token.expires_at)
    events.api_token_expiring(
        token=token,
        data={
            "summary": f"the API token {token.name} expires on {when}: a platform lead "
            f"creates its successor at {page}",
            "token": token.name,
            "key_id": token.key_id,
            "expires_at": token.expires_at.isoformat() if token.expires_at else None,
            "path": page,
            "leads": [lead.get_username() for lead in leads],
        },
    )
    base = settings.PORTAL_BASE_URL.rstrip("/")
    context = {"token": token, "project": project, "expires": when, "link": f"{base}{page}"}
    subject = f"{project.name}: the API token {token.name} expires on {when}"
    body = render_to_string("release_portal/api/token_expiry_email.txt", context)
    # One mail per lead: nobody sees the others' addresses.
    mails = [(subject, body, None, [lead.email]) for lead in leads if lead.email]
    if mails:
        transaction.on_commit(lambda: send_mass_mail(mails), robust=True)
    return True
