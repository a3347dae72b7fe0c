"""Rotate the checkpoint signing key (see README, "Rotating the signing key")."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from release_portal.audit.checkpoints import signing_key_rotate
from release_portal.audit.services import Actor
from release_portal.audit.signing import SigningKeyError


class Command(BaseCommand):
    help = (
        "Make AUDIT_SIGNING_KEY the signing key, AUDIT_SIGNING_KEY_PREVIOUS being the current "
        "one: a change-log event, a statement signed by both keys, a new checkpoint."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            checkpoint = signing_key_rotate(actor=Actor.system("manage.py audit_rotate_key"))
        except SigningKeyError as e:
            raise CommandError(str(e)) from None
        self.stdout.write(
            f"Signing with key {checkpoint.key_id} from event #{checkpoint.seq}; the old key "
            "may be removed from AUDIT_SIGNING_KEY_PREVIOUS."
        )
