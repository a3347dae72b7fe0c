"""The demo loaded by `make run`: one person per role, a project, its targets and a release."""

from __future__ import annotations

from typing import Any

import psycopg
from django.contrib.auth import get_user_model
from django.db import transaction
from psycopg import sql

from migrations_ops import pgtools
from migrations_ops.models import Project, Target
from release_portal.accounts.models import Membership
from release_portal.accounts.roles import Role

DEMO_PASSWORD = "release-portal-demo"  # noqa: S105 - printed by make run, demo only
DEMO_USERS: dict[str, tuple[str, Role]] = {
    "lead": ("Platform lead (also the demo release's owner)", Role.PLATFORM_LEAD),
    "releng": ("Release engineer", Role.RELEASE_ENGINEER),
    "qa": ("QA lead", Role.QA_LEAD),
    "sre": ("SRE / on-call", Role.SRE),
    "auditor": ("Auditor", Role.AUDITOR),
}
DEMO_PROJECT_SLUG = "demo"
# Environment variable -> database on the portal's own server.
DEMO_TARGET_DATABASES = {
    "DEMO_STAGING_DATABASE_URL": "demo_staging",
    "DEMO_PRODUCTION_DATABASE_URL": "demo_production",
}


def ensure_database(name: str) -> bool:
    """Create ``name`` on the portal's server if missing. Returns whether it was created."""
    with psycopg.connect(pgtools.portal_server_url("postgres"), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


@transaction.atomic
def demo_users_and_project() -> dict[str, Any]:
    User = get_user_model()
    project, _ = Project.objects.get_or_create(
        slug=DEMO_PROJECT_SLUG,
        defaults={
            "name": "Ibimina (demo)",
            "description": "A demo Supabase project with RLS policies and a pending migration.",
        },
    )
    users = {}
    for username, (_, role) in DEMO_USERS.items():
        user, created = User.objects.get_or_create(
            username=username, defaults={"email": f"{username}@demo.invalid"}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        Membership.objects.get_or_create(user=user, project=project, role=role)
        users[username] = user
    for name, kind, env_name in (
        ("staging", Target.Kind.STAGING, "DEMO_STAGING_DATABASE_URL"),
        ("production", Target.Kind.PRODUCTION, "DEMO_PRODUCTION_DATABASE_URL"),
    ):
        Target.objects.get_or_create(
            project=project, name=name, defaults={"kind": kind, "url_env_var": env_name}
        )
    return {"project": project, "users": users}
