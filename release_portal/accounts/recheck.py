"""Asking for the password again before a weighty action (a sign-off, break-glass), with
a lockout like the login's.

``password_recheck`` promises: after LOGIN_FAILURE_LIMIT wrong passwords within
LOGIN_LOCKOUT_MINUTES, every further attempt of that person is refused, the right
password included, until the newest wrong one is LOGIN_LOCKOUT_MINUTES old. The counter is
per person (whoever asks here is signed in as them already: it guards their account
against a stolen session, and locks nobody else out); one counter covers every purpose.
Each wrong password, the lockout and each attempt during it are in the change log,
recorded in their own transactions so that the refusal never rolls them back. A right
password clears the count.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from release_portal.accounts.models import PasswordRecheckFailure
from release_portal.audit.services import audit_record


class PasswordRecheckFailed(ValidationError):
    """A wrong password, or a lockout; the message says what to do."""


def _window() -> timedelta:
    return timedelta(minutes=int(settings.LOGIN_LOCKOUT_MINUTES))


def locked_until(user: Any) -> datetime | None:
    """When ``user``'s lockout ends, or None when they are not locked out."""
    recent = PasswordRecheckFailure.objects.filter(user=user, at__gt=timezone.now() - _window())
    if recent.count() < int(settings.LOGIN_FAILURE_LIMIT):
        return None
    newest = recent.order_by("-at").values_list("at", flat=True).first()
    return newest + _window() if newest else None


def _hhmm(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%H:%M UTC")


def password_recheck(
    *, user: Any, password: str, purpose: str, doing: str, refused_action: str, obj: Any,
    data: dict[str, Any] | None = None,
) -> None:  # fmt: skip
    """Return when ``password`` is ``user``'s and they are not locked out; else raise
    PasswordRecheckFailed. ``doing`` names the action for people ("signing"),
    ``refused_action`` the change-log action of a wrong password, ``obj`` what it was for."""
    data = {**(data or {}), "purpose": purpose}
    minutes = int(settings.LOGIN_LOCKOUT_MINUTES)
    until = locked_until(user)
    if until is not None:
        with transaction.atomic():
            audit_record(actor=user, action="account.password_recheck_locked", obj=obj,
                         data={**data, "until": until})  # fmt: skip
        raise PasswordRecheckFailed(
            f"Too many wrong passwords: {doing} is locked for you until {_hhmm(until)} "
            f"({minutes} minutes after the last wrong one), even with the right password. "
            "If those attempts were not yours, change your password and tell a platform lead."
        )
    if user.check_password(password or ""):
        PasswordRecheckFailure.objects.filter(user=user).delete()
        return
    limit = int(settings.LOGIN_FAILURE_LIMIT)
    with transaction.atomic():
        now = timezone.now()
        PasswordRecheckFailure.objects.create(user=user, at=now, purpose=purpose)
        failures = PasswordRecheckFailure.objects.filter(user=user, at__gt=now - _window()).count()
        audit_record(actor=user, action=refused_action, obj=obj,
                     data={**data, "failures": failures, "limit": limit})  # fmt: skip
        if failures >= limit:
            audit_record(actor=user, action="account.password_recheck_lockout", obj=obj,
                         data={**data, "failures": failures, "until": now + _window()})  # fmt: skip
    text = f"That password is not right: {doing} needs your password again."
    left = limit - failures
    if left <= 0:
        text += f" Too many wrong passwords: {doing} is now locked for {minutes} minutes."
    elif left <= 2:
        text += (
            f" {left} more wrong password{'s' if left > 1 else ''} lock{'' if left > 1 else 's'} "
            f"it for {minutes} minutes."
        )
    raise PasswordRecheckFailed(text)
