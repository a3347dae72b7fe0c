"""Noticing that an account can no longer sign in, whichever way it happened, and saying
so once (``signals.sign_in_ended``).

Operators deactivate people in Django's admin, but a shell, a management command or a
data fix can save ``is_active=False`` or delete a user too: the model's own signals are
the one place all of them pass, so that is where it is noticed. A ``QuerySet.update()``
bypasses them (as it bypasses every model signal): use ``save()``.

Who made the change is not known to a model signal: whoever knows it (the admin, for the
operator signed in) says it with ``account_changes_by(user)`` around the save.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import pre_delete, pre_save

from release_portal.accounts.signals import SignInEnded, sign_in_ended

_changed_by: ContextVar[Any] = ContextVar("account_changed_by", default=None)


@contextmanager
def account_changes_by(actor: Any) -> Iterator[None]:
    """Accounts saved or deleted within this block are changed by ``actor``."""
    token = _changed_by.set(actor)
    try:
        yield
    finally:
        _changed_by.reset(token)


def _deactivating(
    sender: Any, instance: Any, raw: bool = False, update_fields: Any = None, **_: Any
) -> None:
    """``instance`` is about to be saved inactive while its stored row is active (not a
    fixture being loaded: ``raw``)."""
    if raw or instance.pk is None or instance.is_active:
        return
    if update_fields is not None and "is_active" not in update_fields:
        return
    with transaction.atomic():
        stored = (
            sender.objects.select_for_update()
            .filter(pk=instance.pk)
            .values_list("is_active", flat=True)
            .first()
        )
        if stored:
            _send(instance, SignInEnded.DEACTIVATED)


def _deleting(sender: Any, instance: Any, **_: Any) -> None:
    """Sent inside the deletion's transaction, before its memberships go (also for an
    account deactivated earlier: whoever listens acts on what is still there)."""
    _send(instance, SignInEnded.DELETED)


def _send(user: Any, how: SignInEnded) -> None:
    sign_in_ended.send(sender=type(user), user=user, actor=_changed_by.get(), how=how)


def connect() -> None:
    """Called once, by AccountsConfig.ready."""
    User = get_user_model()
    pre_save.connect(_deactivating, sender=User, dispatch_uid="accounts.sign_in_ended.save")
    pre_delete.connect(_deleting, sender=User, dispatch_uid="accounts.sign_in_ended.delete")
