"""manage.py project_create --name N --slug S --lead-email E: a project and its first lead."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
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
            default="",
            help="The portal's address, for the invitation link (default: PORTAL_BASE_URL, "
            "else the address `make run` serves on).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # The link is mailed to the lead: it must be the portal's public address, which the
        # operator set once as PORTAL_BASE_URL, not this machine's loopback.
        base_url = options["base_url"] or settings.PORTAL_BASE_URL
        local = not base_url
        if local:
            base_url = f"http://127.0.0.1:{os.environ.get('PORT') or 8000}/"
        try:
            made = project_create(
                name=options["name"],
                slug=options["slug"],
                lead_email=options["lead_email"],
                created_by=Actor.system("operator (manage.py project_create)"),
                base_url=base_url,
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
        if local:
            self.stdout.write(
                f"Note: neither --base-url nor PORTAL_BASE_URL is set, so the link points at "
                f"{base_url}: pass the address people reach the portal at."
            )
        self.stdout.write(f"Targets: {made.target_vars_note}")
