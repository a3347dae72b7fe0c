"""Sign the change log's head now (beat does it on a schedule) and print the checkpoint."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from release_portal.audit.checkpoints import checkpoint_sign
from release_portal.audit.models import AuditCheckpoint
from release_portal.audit.services import Actor
from release_portal.audit.signing import SigningKeyError


class Command(BaseCommand):
    help = "Sign the chain head now, send it to webhook receivers, and print it (JSON)."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            checkpoint = checkpoint_sign(
                reason=AuditCheckpoint.Reason.MANUAL,
                actor=Actor.system("manage.py audit_checkpoint"),
            )
        except SigningKeyError as e:
            raise CommandError(str(e)) from None
        self.stdout.write(json.dumps(checkpoint.document, indent=2))
