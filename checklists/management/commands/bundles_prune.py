"""manage.py bundles_prune: remove the stored bundles no release, upload or job names."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from checklists.services.migrations import bundles_prune


class Command(BaseCommand):
    help = (
        "Remove stored bundles that no release, upload of a release or job names any more "
        "(bundles something names are never removed)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        removed = bundles_prune()
        self.stdout.write(f"{len(removed)} unused bundle(s) removed")
        for digest in removed:
            self.stdout.write(f"  {digest}")
