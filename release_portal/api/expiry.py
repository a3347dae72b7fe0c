"""Telling a project's platform leads, once per token, that an API token enters its last
days (EXPIRES_SOON), while there is time to put its successor in the CI secret.

Celery beat runs ``token_expiry_notices`` daily (``api.tasks``). Each notice goes the way
the portal's other notices go (``webhooks.events.announce``): a ``notify.api_token.expiring``
event in the change log and a message to the project's webhooks subscribed to
``api_token.expiring``, in the transaction that claims the token; and a mail to each of the
project's active platform leads (through the mail settings that send invitations), written
in that transaction as an ``ExpiryMail`` row and sent once it commits. A mail the server
refused stays pending and is tried again (``RETRY_DELAYS``, by the ``token_expiry_mails``
beat task) until it is sent or its tries run out; the tokens page shows the ones not sent.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone

from release_portal.accounts.models import Membership
from release_portal.api.models import EXPIRES_SOON, ApiToken, ExpiryMail, TokenState
from release_portal.api.tokens import tokens_page
from release_portal.templatetags.portal import utc_time
from release_portal.webhooks import events

logger = logging.getLogger(__name__)

# A mail the server refused is tried again after each delay in turn (five tries in all,
# within the token's last week): 10 minutes, an hour, 6 hours, a day.
RETRY_DELAYS = (
    timedelta(minutes=10),
    timedelta(hours=1),
    timedelta(hours=6),
    timedelta(days=1),
)
# A try claimed this long ago and never finished: its sender stopped mid-send (the SMTP
# connection times out after 20 s). The mail may have gone out, so it is not tried again.
STUCK_AFTER = timedelta(minutes=10)


def expiring_unannounced(now: datetime) -> QuerySet[ApiToken]:
    """Live tokens that expire within EXPIRES_SOON of ``now`` and were not announced yet
    (never a revoked or expired one, nor one that never expires)."""
    return ApiToken.objects.live(now).filter(
        expires_at__lte=now + EXPIRES_SOON, expiry_notified_at__isnull=True
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
    leads = active_leads(project.pk)
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
    mails_queue(token=token, leads=leads, subject=subject, body=body, now=now)
    return True


def active_leads(project_id: int, *, but: Any = None) -> list[Any]:
    """The project's platform leads who can sign in, by username (``but`` left out): the
    people told of its tokens."""
    memberships = Membership.objects.active_leads().filter(project_id=project_id)
    if but is not None:
        memberships = memberships.exclude(user_id=but.pk)
    return [m.user for m in memberships.select_related("user").order_by("user__username")]


def mails_queue(
    *,
    token: ApiToken,
    leads: list[Any],
    subject: str,
    body: str,
    now: datetime,
    kind: str = ExpiryMail.Kind.EXPIRING,
) -> None:
    """Write one mail per lead about ``token`` (nobody sees the others' addresses), kept
    until it is sent; the first try follows the commit (a rollback sends nothing)."""
    addresses = list(dict.fromkeys(lead.email for lead in leads if lead.email))
    by_email = {lead.email: lead for lead in leads}
    ExpiryMail.objects.bulk_create(
        ExpiryMail(
            token=token,
            kind=kind,
            user=by_email[email],
            email=email,
            subject=subject[:300],
            body=body,
            next_attempt_at=now,
        )
        for email in addresses
    )
    if addresses:
        token_id = token.pk
        transaction.on_commit(
            lambda: expiry_mails_send(token_id=token_id, now=timezone.now()), robust=True
        )


def expiry_mails_send(*, now: datetime | None = None, token_id: int | None = None) -> int:
    """Try every expiry mail that is due (of ``token_id`` only, when given), each claimed
    before it is tried so that no mail goes out twice; returns how many were sent.

    A refused mail is tried again after the next of ``RETRY_DELAYS``, then marked failed
    with the server's answer; an expiry mail of a token revoked or expired meanwhile is not
    sent. (``api.creators`` queues its revocation mails here too.)
    """
    now = now or timezone.now()
    ExpiryMail.objects.filter(
        state=ExpiryMail.State.SENDING, claimed_at__lt=now - STUCK_AFTER
    ).update(
        state=ExpiryMail.State.FAILED,
        last_error="its sender stopped while sending it: it may have gone out, so it is not "
        "sent again",
    )
    due = ExpiryMail.objects.filter(state=ExpiryMail.State.PENDING, next_attempt_at__lte=now)
    if token_id is not None:
        due = due.filter(token_id=token_id)
    ids = list(due.order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:500])
    return sum(_expiry_mail_try(mail_id=mail_id, now=now) for mail_id in ids)


def _expiry_mail_try(*, mail_id: int, now: datetime) -> bool:
    """One try of one mail, if this call claims it (pending and due → sending)."""
    claimed = ExpiryMail.objects.filter(
        pk=mail_id, state=ExpiryMail.State.PENDING, next_attempt_at__lte=now
    ).update(state=ExpiryMail.State.SENDING, attempts=F("attempts") + 1, claimed_at=timezone.now())
    if not claimed:
        return False
    mail = ExpiryMail.objects.select_related("token").get(pk=mail_id)
    done = ExpiryMail.objects.filter(pk=mail_id, state=ExpiryMail.State.SENDING)
    token_state = mail.token.state_at(timezone.now())
    # "expires soon" is moot once the token ended; "it was revoked" is about its end.
    if mail.kind == ExpiryMail.Kind.EXPIRING and token_state != TokenState.LIVE:
        done.update(
            state=ExpiryMail.State.FAILED,
            last_error=f"not sent: the token is {token_state.label} now",
        )
        return False
    try:
        EmailMessage(subject=mail.subject, body=mail.body, to=[mail.email]).send()
    except Exception as e:
        error = f"{type(e).__name__}: {e}"[:300]
        if mail.attempts > len(RETRY_DELAYS):
            done.update(state=ExpiryMail.State.FAILED, last_error=error)
            logger.warning("API token %s: gave up mailing %s: %s", mail.token_id, mail.email, error)
        else:
            retry_at = timezone.now() + RETRY_DELAYS[mail.attempts - 1]
            done.update(state=ExpiryMail.State.PENDING, next_attempt_at=retry_at, last_error=error)
            logger.warning(
                "API token %s: mailing %s failed (%s); tried again at %s",
                mail.token_id, mail.email, error, retry_at,
            )  # fmt: skip
        return False
    done.update(state=ExpiryMail.State.SENT, sent_at=timezone.now(), last_error="")
    return True
