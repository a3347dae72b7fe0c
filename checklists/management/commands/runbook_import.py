"""manage.py runbook_import FILE --project SLUG [--publish --notes TEXT --as USERNAME]"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from checklists.runbooks.lint import counts
from checklists.runbooks.services import (
    RunbookError,
    RunbookImportError,
    runbook_import,
    runbook_publish,
)
from migrations_ops.models import Project
from release_portal.accounts.roles import Action, can


class Command(BaseCommand):
    help = (
        "Import a runbook markdown file as the project's next version (a draft unless --publish)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The runbook markdown (UTF-8, at most 1 MB).")
        parser.add_argument("--project", required=True, help="The project's slug.")
        parser.add_argument("--publish", action="store_true", help="Publish it right away.")
        parser.add_argument("--notes", default="", help="Change-log notes (needed to publish).")
        parser.add_argument(
            "--as",
            dest="username",
            default="",
            help="Record the import as this user (a platform lead of the project); "
            "default: the portal itself.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path}: no such file.")
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"No project with the slug {options['project']!r}.")
        if options["publish"] and not options["notes"].strip():
            raise CommandError("--publish needs --notes: they go into the runbook's change log.")
        user = None
        if options["username"]:
            user = get_user_model().objects.filter(username=options["username"]).first()
            if user is None:
                raise CommandError(f"No user {options['username']!r}.")
            if not can(user, Action.PUBLISH_RUNBOOK, project):
                raise CommandError(
                    f"{user.get_username()} is not a platform lead of {project.slug}."
                )
        try:
            with transaction.atomic():
                version = runbook_import(project=project, source_bytes=path.read_bytes(), user=user)
                if options["publish"]:
                    version = runbook_publish(version=version, user=user, notes=options["notes"])
        except (RunbookImportError, RunbookError) as e:
            raise CommandError(f"{path}: {e}") from None
        tally = counts(version.lint_findings)
        self.stdout.write(
            f"{project.slug}: v{version.number} “{version.title}” "
            f"({version.get_status_display().lower()}), {version.steps.count()} steps, "
            f"lint: {tally['error']} errors, {tally['warning']} warnings, {tally['info']} notes."
        )
        for finding in version.lint_findings:
            self.stdout.write(
                f"  {finding['severity']:7} line {finding['line']}: {finding['command']}"
            )
