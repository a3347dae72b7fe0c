"""The demo loaded by `make run`: one person per role, a project, its targets and a release."""

from __future__ import annotations

from pathlib import Path
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


DEMO_SUPABASE = Path(__file__).resolve().parent / "demo_supabase"
# Already applied on the demo's staging and production; the third file is the release.
DEMO_APPLIED = ["20250101000000_create_app.sql", "20250115000000_add_contributions.sql"]


def demo_project_settings(project: Project) -> None:
    """Settings that make every runner do real work on the embedded server."""
    project.fixture_files = ["supabase/tests/fixtures/roles.sql"]
    project.seed_files = ["supabase/tests/fixtures/seed.sql"]
    project.check_commands = [["python3", "supabase/scripts/lint_sql.py"]]
    project.required_secret_names = ["DEMO_STAGING_DATABASE_URL", "DEMO_PRODUCTION_DATABASE_URL"]
    project.save()


def prepare_target_database(database: str) -> bool:
    """Give a demo target the Supabase basics and the two applied migrations (once)."""
    from migrations_ops.apply import MigrationFile, apply_files

    url = pgtools.portal_server_url(database)
    with psycopg.connect(url, autocommit=True) as conn:
        applied = conn.execute(
            "SELECT to_regclass('supabase_migrations.schema_migrations') IS NOT NULL"
        ).fetchone()
        if applied and applied[0]:
            return False
        conn.execute((DEMO_SUPABASE / "tests/fixtures/roles.sql").read_text())
        files = [MigrationFile.from_path(DEMO_SUPABASE / "migrations" / f) for f in DEMO_APPLIED]
        report = apply_files(conn, files, log=lambda stream, text: None)
        failure = report.first_failure
        if failure is not None:
            raise RuntimeError(f"demo migrations failed on {database}: {failure.describe()}")
        conn.execute((DEMO_SUPABASE / "tests/fixtures/seed.sql").read_text())
    return True


def demo_bundle_files() -> list[Any]:
    from checklists.bundles import BundleFile

    return [
        BundleFile("supabase/" + p.relative_to(DEMO_SUPABASE).as_posix(), p.read_bytes())
        for p in sorted(DEMO_SUPABASE.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    ]


def demo_release(project: Project, users: dict[str, Any]) -> Any:
    """The demo's release under way (created once): migrations stored, nothing ticked."""
    from checklists.models import Release
    from checklists.services import release_create, release_set_migrations

    existing = Release.objects.filter(project=project).first()
    if existing is not None:
        return existing
    release = release_create(
        project=project,
        title="Add member phone numbers",
        owner=users["lead"],
        commit_sha="4f2c9e1b7a3d5f60c8e2a9b14d7e3f5a6c1b2d90",
        created_by=users["releng"],
    )
    release_set_migrations(
        release=release, files=demo_bundle_files(), source=Release.MigrationsSource.UPLOAD,
        actor=users["releng"],
    )  # fmt: skip
    return release
