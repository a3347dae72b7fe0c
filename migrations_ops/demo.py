"""The demo loaded by `make run`: one person per role, a project, its targets and a release.

The demo's staging and production databases live on the portal's own server, so its
targets reach them as a role of their own, ``release_portal_demo``: not a superuser, no
CREATEROLE or CREATEDB, in none of the server-file and read-everything roles, and unable
to connect to the portal's database (CONNECT is revoked from PUBLIC there; superusers
and the portal's own user keep it). The embedded server trusts every local connection
(its pg_hba.conf is ``trust``), so privileges, not passwords, are what hold the demo
role in; the role has a password anyway, for servers that ask for one. It owns the demo
databases and everything in them, which is all that backups (pg_dump), dry runs
(reading staging) and applying migrations need.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from psycopg import sql

from migrations_ops.models import Project, Target
from migrations_ops.pg import pgtools
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


DEMO_ROLE = "release_portal_demo"
# What `make run` gives PORTAL_TARGET_VARS: the demo's targets name these and no other.
DEMO_TARGET_VARS = f"{DEMO_PROJECT_SLUG}:" + ",".join(DEMO_TARGET_DATABASES)
# Server roles that read or write the server's files, run programs or read every table.
POWERFUL_ROLES = (
    "pg_execute_server_program",
    "pg_read_server_files",
    "pg_write_server_files",
    "pg_read_all_data",
    "pg_write_all_data",
)
# The Supabase API roles the demo's migrations grant to. Roles belong to the whole
# server, so the portal's user makes them; the demo role only grants to them.
SUPABASE_API_ROLES = {
    "anon": "NOLOGIN",
    "authenticated": "NOLOGIN",
    "service_role": "NOLOGIN BYPASSRLS",
}


def _portal_server() -> psycopg.Connection:
    return psycopg.connect(pgtools.portal_server_url("postgres"), autocommit=True)


def demo_role_password() -> str:
    """The demo role's password, made once and kept in PORTAL_DATA_DIR (like the keys)."""
    path = settings.DATA_DIR / "demo_role_password"
    if not path.exists():
        settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(secrets.token_urlsafe(24))
    return path.read_text().strip()


def demo_target_url(database: str, *, role: str = DEMO_ROLE, password: str | None = None) -> str:
    """The URL of a demo database on the portal's server, as the demo role."""
    parts = urlsplit(pgtools.portal_server_url(database))
    secret = demo_role_password() if password is None else password
    where = parts.netloc.rpartition("@")[2]  # host:port; empty for the embedded socket
    netloc = f"{quote(role, safe='')}:{quote(secret, safe='')}@{where}"
    return urlunsplit(parts._replace(netloc=netloc))


def with_demo_target_vars(configured: str) -> str:
    """PORTAL_TARGET_VARS for `make run`: the operator's, plus the demo's unless named."""
    parsed: dict[str, list[str]] | None = settings.PORTAL_TARGET_VARS
    if not configured.strip() or parsed is None:
        return DEMO_TARGET_VARS
    if DEMO_PROJECT_SLUG in parsed:
        return configured
    return f"{configured.rstrip('; ')};{DEMO_TARGET_VARS}"


def demo_role_ensure(*, role: str = DEMO_ROLE, password: str) -> None:
    """The demo role exists, may log in and do nothing more on the server.

    Idempotent, and it repairs: run again, it takes back any power the role was given.
    """
    name = sql.Identifier(role)
    with _portal_server() as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(name))
        conn.execute(
            sql.SQL(
                "ALTER ROLE {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                "NOBYPASSRLS PASSWORD {}"
            ).format(name, sql.Literal(password))
        )
        held = conn.execute(
            "SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
            "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = %s",
            [role],
        ).fetchall()
        for (granted,) in held:  # the demo role needs no other role's powers
            conn.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(granted), name))
        for api_role, options in SUPABASE_API_ROLES.items():
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [api_role]).fetchone():
                conn.execute(sql.SQL("CREATE ROLE {} " + options).format(sql.Identifier(api_role)))


def portal_database_close(*, database: str | None = None) -> None:
    """Only the portal's own user (and superusers) may connect to the portal's database."""
    database = database or connection.settings_dict["NAME"]
    with _portal_server() as conn:
        db = sql.Identifier(database)
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO CURRENT_USER").format(db))
        conn.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(db))


def ensure_database(name: str, *, owner: str = DEMO_ROLE) -> str:
    """``name`` on the portal's server, owned by ``owner`` and reachable by it alone.

    Returns "created", "rebuilt" (it existed under another owner: the demo databases of
    an older `make run`, made by the portal's user, are dropped and made again) or "".
    """
    ident = sql.Identifier(name)
    outcome = ""
    with _portal_server() as conn:
        row = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if row is not None and row[0] != owner:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(ident))
            row, outcome = None, "rebuilt"
        if row is None:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(ident, sql.Identifier(owner))
            )
            outcome = outcome or "created"
        conn.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(ident))
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(ident, sql.Identifier(owner))
        )
    return outcome


def demo_targets_prepare(
    databases: Iterable[str] = DEMO_TARGET_DATABASES.values(),
    *,
    role: str = DEMO_ROLE,
    password: str | None = None,
    log: Any = lambda text: None,
) -> None:
    """The demo role, the portal's database closed to it, and the demo databases it owns,
    each with the Supabase basics and the demo's first two migrations."""
    password = demo_role_password() if password is None else password
    demo_role_ensure(role=role, password=password)
    portal_database_close()
    for database in databases:
        outcome = ensure_database(database, owner=role)
        if outcome:
            log(f"{outcome.capitalize()} the demo database {database}, owned by {role}.")
        url = demo_target_url(database, role=role, password=password)
        if prepare_target_database(database, url=url):
            log(f"Applied the demo's first two migrations to {database}.")


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


def prepare_target_database(database: str, *, url: str | None = None) -> bool:
    """Give a demo target the Supabase basics and the two applied migrations (once), as
    the demo role (``url``), so that it owns all of it."""
    from migrations_ops.pg.apply import MigrationFile, apply_files

    url = url or demo_target_url(database)
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


DEMO_RELEASE_COMMIT = "4f2c9e1b7a3d5f60c8e2a9b14d7e3f5a6c1b2d90"


def demo_release(project: Project, users: dict[str, Any]) -> Any:
    """The demo's release under way (created once): migrations stored, nothing ticked.

    Found again by its commit, whatever releases people created in the demo since.
    """
    from checklists.models import Release
    from checklists.services.migrations import release_set_migrations
    from checklists.services.releases import release_create

    existing = (
        Release.objects.filter(project=project, commit_sha=DEMO_RELEASE_COMMIT)
        .order_by("created_at", "pk")
        .first()
    )
    if existing is not None:
        return existing
    release = release_create(
        project=project,
        title="Add member phone numbers",
        owner=users["lead"],
        commit_sha=DEMO_RELEASE_COMMIT,
        created_by=users["releng"],
    )
    release_set_migrations(
        release=release, files=demo_bundle_files(), source=Release.MigrationsSource.UPLOAD,
        actor=users["releng"],
    )  # fmt: skip
    return release


def demo_analysis_queue(release: Any) -> list[Any]:
    """Queue the release's risk and access jobs against staging, once per content: the
    worker `make run` starts runs them, and the release page's "What this release does"
    card shows their result (the unique index built without CONCURRENTLY among it)."""
    from migrations_ops.jobs.services import job_enqueue
    from migrations_ops.models import Job

    target = release.project.targets.get(name="staging")
    queued = []
    for kind in (Job.Kind.RISK, Job.Kind.ACCESS):
        done = Job.objects.filter(
            release=release, kind=kind, content_digest=release.content_digest
        ).exclude(state__in=[Job.State.FAILED, Job.State.CANCELLED, Job.State.TIMED_OUT])
        if not done.exists():
            queued.append(
                job_enqueue(kind=kind, project=release.project, release=release, target=target)
            )
    return queued
