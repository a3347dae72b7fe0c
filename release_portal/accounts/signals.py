"""What the accounts tell the rest of the portal, which they may not import.

``role_lost`` is sent inside the transaction that takes a role from a member (removed, or
changed to another role), with ``user``, ``project_id``, ``role`` (the one lost) and
``actor``; the user's other roles there are already as they will be. The release services
listen: a sign-off given in a role the person no longer holds stops counting.

``sign_in_ended`` is sent when an account can no longer sign in: deactivated (``is_active``
saved as False where it was True: Django's admin, a shell, any save) or deleted. It comes
with ``user``, ``actor`` (who made the change, when known: the operator in the admin;
None from a shell) and ``how`` (``SignInEnded.DEACTIVATED`` or ``.DELETED``); its
memberships are still there. It is sent inside the deletion's transaction, and inside the
admin's save; a save outside any transaction sends it in a transaction of its own, just
before the row is written (``accounts.lifecycle``). The API tokens listen: the tokens the
person made stop working.
"""

from enum import StrEnum

from django.dispatch import Signal

role_lost = Signal()
sign_in_ended = Signal()


class SignInEnded(StrEnum):
    """How an account stopped being able to sign in, as people read it."""

    DEACTIVATED = "account deactivated"
    DELETED = "account deleted"
