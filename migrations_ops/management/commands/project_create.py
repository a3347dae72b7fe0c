"""manage.py project_create --name N --slug S --lead-email E: a project and its first lead."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from migrations_ops.projects.onboarding import project_create
from release_portal.audit.services import Actor


class Command(BaseCommand):
    help = (
        "Create a project with its first platform lead (invited by email; the link to set "
        "a password is printed too) and the shipped runbook published as v1."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help="The project's name, e.g. 'Shop'.")
        parser.add_argument("--slug", required=True, help="Its short name in URLs, e.g. shop.")
        parser.add_argument("--lead-email", required=True, help="The first platform lead.")
        parser.add_argument(
            "--base-url",
            default="http://127.0.0.1:8000/",
            help="The portal's address, for the invitation link (default %(default)s).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            made = project_create(
                name=options["name"],
                slug=options["slug"],
                lead_email=options["lead_email"],
                created_by=Actor.system("operator (manage.py project_create)"),
                base_url=options["base_url"],
            )
        except ValidationError as e:
            raise CommandError(" ".join(e.messages)) from None
        project, lead = made.project, made.lead
        self.stdout.write(f"Created the project {project.name} ({project.slug}).")
        self.stdout.write(f"Platform lead: {lead.get_username()} <{lead.email}>.")
        if made.invite_link:
            self.stdout.write(
                f"Invitation link (also mailed; valid three days): {made.invite_link}"
            )
        else:
            self.stdout.write("They already have an account: they sign in as usual.")
        self.stdout.write(f"Targets: {made.target_vars_note}")
