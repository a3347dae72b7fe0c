"""Print the public key that signs the change log's checkpoints (PEM), for auditors."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from release_portal.audit import signing
from release_portal.audit.selectors import signing_keys


class Command(BaseCommand):
    help = "Print the public key that signs checkpoints (PEM on stdout); --all: every key, as JSON."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--all", action="store_true", help="Every key the portal signed with, and when."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        keys = signing_keys()
        if options["all"]:
            self.stdout.write(json.dumps([
                {"key_id": k.key_id, "public_key": k.public_key,
                 "valid_from_seq": k.valid_from_seq, "valid_until_seq": k.valid_until_seq,
                 "rotation": k.rotation}
                for k in keys
            ], indent=2))  # fmt: skip
            return
        try:
            self.stdout.write(signing.served_public_pem(), ending="")
        except signing.SigningKeyError as e:
            raise CommandError(str(e)) from None
