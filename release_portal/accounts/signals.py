"""What the accounts tell the rest of the portal, which they may not import.

``role_lost`` is sent inside the transaction that takes a role from a member (removed, or
changed to another role), with ``user``, ``project_id``, ``role`` (the one lost) and
``actor``; the user's other roles there are already as they will be. The release services
listen: a sign-off given in a role the person no longer holds stops counting.
"""

from django.dispatch import Signal

role_lost = Signal()
