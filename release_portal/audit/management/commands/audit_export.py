"""Export the change log to a file an outsider can check (see release_portal/audit/exports.py)."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, time
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.utils import timezone

from migrations_ops.models import Project
from release_portal.audit import exports
from release_portal.audit.checkpoints import audit_export_start
from release_portal.audit.selectors import ChainHead
from release_portal.audit.services import Actor
from release_portal.audit.signing import SigningKeyError


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--since takes a date as YYYY-MM-DD, not {value!r}") from None


class Command(BaseCommand):
    help = (
        "Export the change log (every project's events, or one project's) as JSON Lines or "
        "CSV, ending with a signed checkpoint; check it with scripts/verify_changelog.py."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
        parser.add_argument("--out", required=True, help="The file to write (- for stdout).")
        parser.add_argument(
            "--project", help="A project's slug: only its events (others as placeholders)."
        )
        parser.add_argument("--since", help="Events from this day on (UTC, YYYY-MM-DD).")

    def handle(self, *args: Any, **options: Any) -> None:
        filters: dict[str, Any] = {}
        selection = Q()
        if options["project"]:
            project = Project.objects.filter(slug=options["project"]).first()
            if project is None:
                known = ", ".join(Project.objects.values_list("slug", flat=True)) or "none"
                raise CommandError(f"No project {options['project']!r} (projects: {known}).")
            filters["project"] = project.pk
            selection &= Q(project_id=project.pk)
            project_ids = [project.pk]
        else:
            project_ids = list(Project.objects.values_list("pk", flat=True))
        if options["since"]:
            since = _date(options["since"])
            filters["since"] = since.isoformat()
            selection &= Q(at__gte=datetime.combine(since, time.min, tzinfo=UTC))
        fmt = options["format"]
        actor = Actor.system("manage.py audit_export")
        try:
            checkpoint = audit_export_start(
                actor=actor, fmt=fmt, filters=filters, project_ids=project_ids
            )
        except SigningKeyError as e:
            raise CommandError(f"The export cannot be signed: {e}.") from None
        frame = exports.ExportFrame(
            head=ChainHead(checkpoint.seq, checkpoint.hash, checkpoint.public_hash),
            checkpoint=checkpoint.document,
            filters=filters,
            exported_at=timezone.now(),
            exported_by=actor.name,
        )
        chunks = (exports.csv_chunks if fmt == "csv" else exports.jsonl_chunks)(selection, frame)
        out = sys.stdout.buffer if options["out"] == "-" else open(options["out"], "wb")  # noqa: SIM115
        try:
            for chunk in chunks:
                out.write(chunk)
        finally:
            if options["out"] != "-":
                out.close()
        if options["out"] != "-":
            self.stderr.write(
                f"Wrote {options['out']}: head #{checkpoint.seq}, public hash "
                f"{checkpoint.public_hash}, signed by key {checkpoint.key_id}."
            )
