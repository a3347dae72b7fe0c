"""A new project and its first platform lead: what an operator does once per team.

``project_create`` is behind both ``manage.py project_create`` and the operators' page
(superusers only). It makes the project, invites its first platform lead (an account with
a link to set a password, mailed to them and given back to the operator), publishes the
shipped runbook as v1 so the first release can start, and records it all in the change
log, in one transaction: a refused slug or email leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email, validate_slug
from django.db import transaction

from checklists.runbooks.services import runbook_ensure_default
from migrations_ops.models import Project
from migrations_ops.target_rule import allowed_patterns, suggested_variable
from release_portal.accounts.roles import Role
from release_portal.accounts.services import member_invite
from release_portal.audit.services import audit_record


@dataclass
class NewProject:
    project: Project
    lead: Any
    # The link the lead sets a password with (None when they already had an account).
    invite_link: str | None
    target_vars_note: str


def target_vars_note(slug: str) -> str:
    """What the operator must allow in PORTAL_TARGET_VARS for the project's targets."""
    staging = suggested_variable(slug)
    production = staging.replace("_STAGING_", "_PRODUCTION_")
    patterns = allowed_patterns(slug)
    if patterns is None:
        return (
            "PORTAL_TARGET_VARS is unset: the project's targets may name any variable but the "
            "portal's own and other projects'. In production set it, e.g. "
            f"PORTAL_TARGET_VARS='{slug}:{staging},{production}' (README, Configuration), set "
            "those variables on the web and worker machines, and restart them."
        )
    if not patterns:
        return (
            f"PORTAL_TARGET_VARS lists nothing for {slug}: its targets can name no variable "
            f"until you add e.g. '{slug}:{staging},{production}' to it (README, Configuration), "
            "set those variables on the web and worker machines, and restart them."
        )
    return (
        f"PORTAL_TARGET_VARS allows {slug} these variables: {', '.join(patterns)}. Set them "
        "on the web and worker machines before the lead adds targets."
    )


@transaction.atomic
def project_create(
    *, name: str, slug: str, lead_email: str, created_by: Any, base_url: str
) -> NewProject:
    """The project ``slug`` with ``lead_email`` as its first platform lead (see module)."""
    name, slug, lead_email = name.strip(), slug.strip(), lead_email.strip()
    if not name:
        raise ValidationError("Give the project a name.")
    validate_slug(slug)
    validate_email(lead_email)
    if Project.objects.select_for_update().filter(slug__iexact=slug).exists():
        raise ValidationError(f"A project with the slug {slug!r} exists already: choose another.")
    project = Project.objects.create(name=name[:120], slug=slug)
    audit_record(
        actor=created_by,
        action="project.create",
        obj=project,
        project=project,
        data={"name": project.name, "slug": slug, "lead": lead_email},
    )
    membership = member_invite(
        project=project,
        email=lead_email,
        role=Role.PLATFORM_LEAD,
        invited_by=created_by,
        base_url=base_url,
    )
    runbook_ensure_default(project=project, user=None)
    # A newcomer, or someone invited before who never set a password, gets the link that
    # was mailed (member_invite); someone with an account signs in as usual.
    return NewProject(
        project=project, lead=membership.user, invite_link=membership.invite_link,
        target_vars_note=target_vars_note(slug),
    )  # fmt: skip
