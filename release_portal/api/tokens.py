"""API tokens: create (the value is shown once), revoke, and recognise a presented token."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from release_portal.accounts.models import Membership
from release_portal.accounts.roles import Action, Role, can
from release_portal.api.models import ApiToken, Scope, TokenState
from release_portal.audit.services import audit_record
from release_portal.templatetags.portal import utc_time

TOKEN_PATTERN = re.compile(r"^rp_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
# last_used_at is a hint for people tidying tokens, not a log: one write a minute at most.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# What a new token lives unless its creator chooses otherwise (the tokens page's default).
DEFAULT_LIFETIME = timedelta(days=90)
# On every API answer made with a token that expires (GitHub's
# github-authentication-token-expiration): CI sees the expiry coming, not only its 401.
EXPIRES_AT_HEADER = "X-Token-Expires-At"
# Within EXPIRES_SOON of the expiry, a line CI logs can show as it is.
EXPIRY_NOTICE_HEADER = "X-Token-Expiry-Notice"


class TokenError(ValidationError):
    pass


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    value: str  # shown once, never stored


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def token_create(
    *,
    project: Any,
    name: str,
    scopes: list[str],
    user: Any,
    lifetime: timedelta | None = DEFAULT_LIFETIME,
) -> NewToken:
    """A new token for ``project``: 256 random bits, only their sha256 stored.

    It expires ``lifetime`` from now; ``None`` makes a token that never expires (allowed,
    but then nothing ends it except a revocation: it must be rotated by hand).
    """
    if not can(user, Action.MANAGE_PROJECT, project) or not _lead_locked(user, project):
        raise PermissionDenied("Only platform leads create API tokens.")
    name = name.strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,79}", name):
        raise TokenError(
            "Name the token with letters, digits, spaces, dots, dashes or underscores "
            "(e.g. github-actions-main); it names CI in the change log."
        )
    chosen = sorted(set(scopes))
    if not chosen or any(s not in Scope.values for s in chosen):
        raise TokenError("Choose at least one scope: read, report or deploy.")
    if lifetime is not None and lifetime <= timedelta(0):
        raise TokenError("A token's lifetime must be positive (or choose no expiry).")
    now = timezone.now()
    expires_at = now + lifetime if lifetime is not None else None
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            token = ApiToken.objects.create(
                project=project, name=name, key_id=key_id, secret_sha256=_digest(secret),
                scopes=chosen, created_by=user, expires_at=expires_at,
            )  # fmt: skip
    except IntegrityError:
        raise TokenError(_name_taken(project, name, now)) from None
    audit_record(
        actor=user,
        action="api_token.create",
        obj=token,
        project=project,
        data={"name": name, "scopes": chosen, "key_id": key_id, "expires_at": expires_at},
    )
    return NewToken(token=token, value=f"rp_{key_id}_{secret}")


def _lead_locked(user: Any, project: Any) -> bool:
    """Whether ``user`` is an active platform lead of ``project``, their account and that
    role locked until the caller's transaction ends (user first, as member_invite locks).
    A removal, role change or deactivation made meanwhile waits for the new token to
    commit, then revokes it (``api.creators``); one that committed first is seen here: a
    token never outlives its creator's lead role."""
    active = get_user_model().objects.select_for_update().filter(pk=user.pk, is_active=True)
    if active.values_list("pk", flat=True).first() is None:
        return False
    lead = Membership.objects.select_for_update().filter(
        user_id=user.pk, project_id=getattr(project, "pk", project), role=Role.PLATFORM_LEAD
    )
    return lead.values_list("pk", flat=True).first() is not None


def _name_taken(project: Any, name: str, now: datetime) -> str:
    """Why ``name`` is refused: an unrevoked token holds it, perhaps one that expired (it
    keeps its name until it is revoked, so the change log's ``token:<name>`` stays one)."""
    holder = ApiToken.objects.filter(project=project, name=name, revoked_at__isnull=True).first()
    if holder is not None and holder.state_at(now) == TokenState.EXPIRED:
        return (
            f"{project}'s token {name!r} expired on {utc_time(holder.expires_at)} but still "
            "holds its name: revoke it in the list first, or choose another name."
        )
    return f"{project} already has a live token named {name!r}."


@transaction.atomic
def token_revoke(*, token: ApiToken, user: Any, reason: str = "") -> ApiToken:
    """Revoke ``token``: every later request with it gets 401. The one way a token is
    revoked: a lead on the tokens page (``user`` must be a platform lead), or the portal
    (with a ``reason``, ``api.creators``: its creator stopped being a platform lead, and
    ``user`` is whoever made that change, a person or None, and needs no permission here:
    nobody asked for the revocation, it follows from their change)."""
    if not reason and not can(user, Action.MANAGE_PROJECT, token.project_id):
        raise PermissionDenied("Only platform leads revoke API tokens.")
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is not None:
        raise TokenError(f"The token {token.name!r} is already revoked.")
    token.revoked_at = timezone.now()
    token.revoked_by = user if getattr(user, "is_authenticated", False) else None
    token.revoked_reason = reason[:300]
    token.save(update_fields=["revoked_at", "revoked_by", "revoked_reason"])
    data = {"name": token.name, "key_id": token.key_id}
    audit_record(
        actor=user,
        action="api_token.revoke",
        obj=token,
        project=token.project_id,
        data={**data, "reason": token.revoked_reason} if reason else data,
    )
    return token


def _presented(value: str) -> ApiToken | None:
    """The token whose whole value ``value`` is (live, expired or revoked), or None."""
    match = TOKEN_PATTERN.match((value or "").strip())
    if match is None:
        return None
    key_id, secret = match.groups()
    token = ApiToken.objects.select_related("project").filter(key_id=key_id).first()
    # Compare even when no row was found, so timing says nothing about key ids.
    expected = token.secret_sha256 if token else "0" * 64
    if not hmac.compare_digest(expected, _digest(secret)) or token is None:
        return None
    return token


def token_authenticate(value: str) -> ApiToken | None:
    """The live token ``value`` names, or None. Records when it was last used (a revoked
    or expired token is not used: its last use stays as it was)."""
    token = _presented(value)
    now = timezone.now()
    if token is None or token.state_at(now) != TokenState.LIVE:
        return None
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        token.last_used_at = now
    return token


def token_refusal(value: str) -> str | None:
    """Why ``value``, a token the portal made, is refused now (revoked or expired), or None.

    CI then logs "revoked on … by … (because …)" or "expired on …" instead of the answer for a
    missing or mistyped secret, which would send people hunting for a typo. Said only to
    whoever presents the whole secret: a key id alone says nothing, so nothing can be
    probed with it.
    """
    token = _presented(value)
    if token is None:
        return None
    state = token.state_at(timezone.now())
    if state == TokenState.REVOKED:
        by = f" by {token.revoked_by.get_username()}" if token.revoked_by else ""
        because = f" because {token.revoked_reason}" if token.revoked_reason else ""
        what = f"was revoked on {utc_time(token.revoked_at)}{by}{because}"
    elif state == TokenState.EXPIRED:
        what = f"expired on {utc_time(token.expires_at)}"
    else:
        return None
    page = tokens_page(token.project)
    return (
        f"This API token ({token.name}, {token.display_prefix}) {what}: a platform lead of "
        f"{token.project.name} creates a new one on the project's API tokens page ({page}); "
        "store it in place of this one in the CI secret."
    )


def tokens_page(project: Any) -> str:
    """Where a platform lead of ``project`` makes the successor of a token: its tokens page,
    as the refusals, the expiry notices and their mail name it."""
    return reverse("project_tokens", kwargs={"slug": project.slug})


def expiry_headers(token: ApiToken, now: datetime) -> dict[str, str]:
    """The headers an API answer made with ``token`` carries: its expiry as an RFC 3339 UTC
    time (for machines), and within EXPIRES_SOON of it a notice (for people). None for a
    token that never expires."""
    if token.expires_at is None:
        return {}
    headers = {EXPIRES_AT_HEADER: token.expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if token.expires_soon_at(now):
        headers[EXPIRY_NOTICE_HEADER] = expiry_notice(token)
    return headers


def expiry_notice(token: ApiToken) -> str:
    """``This API token (ci) expires on 2027-03-06 14:03 UTC: a platform lead of Shop creates
    a new one at /projects/shop/tokens/``: one line, for a header as for a log."""
    project = token.project
    # A header is Latin-1 at best and CI logs show it raw: a name beyond ASCII would come
    # out MIME-encoded or garbled, so such a project is named by its slug.
    named = project.name if project.name.isascii() else project.slug
    page = tokens_page(project)
    return (
        f"This API token ({token.name}) expires on {utc_time(token.expires_at)}: "
        f"a platform lead of {named} creates a new one at {page}"
    )
