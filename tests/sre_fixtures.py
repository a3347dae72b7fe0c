"""The SRE side against real PostgreSQL: a "production" database with data, a release whose
migrations it can apply and undo, and jobs run synchronously (``job_execute``).

The production database is tests.migrations_ops.backup_fixtures' builder (schemas app and
public, thousands of rows, an RLS policy, settings, Supabase's history with two versions).
The release adds ``app.invoices`` (with rows) and ``app.accounts.phone``, with down
scripts for both unless a test leaves one out.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from checklists.services.migrations import release_upload_archive
from checklists.services.releases import release_create
from migrations_ops.backups.services import backup_capture
from migrations_ops.jobs import dispatch
from migrations_ops.jobs.engine import job_execute
from migrations_ops.models import BackupManifest, Job, Target
from migrations_ops.pg.apply import MigrationFile, apply_files
from tests.factories import published_runbook, supabase_archive
from tests.migrations_ops.backup_fixtures import ROLE_FIXTURE, production_database

URL_VAR = "SRE_TEST_PRODUCTION_URL"
INVOICES = (
    "create table app.invoices (id bigint primary key,\n"
    "  account_id bigint not null references app.accounts (id), total numeric(12, 2));\n"
    "insert into app.invoices select g, g, g * 2 from generate_series(1, 25) g;\n"
)
PHONE = "alter table app.accounts add column phone text;\nupdate app.accounts set phone = '+250';\n"
FILES = {
    "migrations/20250101000000_init.sql": "select 1;\n",
    "migrations/20250102000000_orders.sql": "select 1;\n",
    "migrations/20250103000000_invoices.sql": INVOICES,
    "migrations/20250104000000_account_phone.sql": PHONE,
    "rollbacks/20250103000000_invoices.sql": "drop table app.invoices;\n",
    "rollbacks/20250104000000_account_phone.sql": "alter table app.accounts drop column phone;\n",
    "tests/fixtures/roles.sql": ROLE_FIXTURE,
}
RELEASE_VERSIONS = ["20250103000000", "20250104000000"]


@pytest.fixture(autouse=True)
def _backup_dir(settings, tmp_path):
    settings.BACKUP_STORAGE = "local"
    settings.BACKUP_DIR = tmp_path / "backups"
    return settings.BACKUP_DIR


@pytest.fixture
def backup_dir(_backup_dir) -> Path:
    return _backup_dir


@pytest.fixture
def sent(monkeypatch):
    """Job messages are recorded instead of sent; tests run jobs with ``run_job``."""
    calls = []
    monkeypatch.setattr(
        dispatch, "job_send", lambda *, job_id, kind, queue: calls.append((job_id, kind))
    )
    return calls


def run_job(job) -> Job:
    job_execute(job_id=job.pk, worker="test")
    job.refresh_from_db()
    return job


def queued(kind: str) -> Job:
    return Job.objects.get(kind=kind, state=Job.State.QUEUED)


def verified_backup(release, target, sre) -> BackupManifest:
    """A backup of ``target`` for ``release`` whose restore check passed: what a rollback
    plan needs."""
    made = run_job(backup_capture(release=release, target=target, user=sre))
    check = run_job(queued(Job.Kind.RESTORE_CHECK))
    assert check.state == Job.State.SUCCEEDED, check.summary
    return BackupManifest.objects.get(job=made)


@pytest.fixture
def production(tmp_path, monkeypatch):
    with production_database(tmp_path / "production") as prod:
        monkeypatch.setenv(URL_VAR, prod.url)
        yield prod


@pytest.fixture
def sre_project(project):
    project.schemas = ["app", "public"]
    project.fixture_files = ["supabase/tests/fixtures/roles.sql"]
    project.save()
    return project


@pytest.fixture
def target(sre_project):
    return Target.objects.create(
        project=sre_project, name="production", kind=Target.Kind.PRODUCTION, url_env_var=URL_VAR
    )


def make_release(project, owner, files=None, title="Invoices and phones"):
    published_runbook(project) if not project.runbook_versions.exists() else None
    release = release_create(
        project=project, title=title, owner=owner, commit_sha="b" * 40, created_by=owner
    )
    release_upload_archive(
        release=release, data=supabase_archive(files or FILES), filename="supabase.zip",
        actor=owner,
    )  # fmt: skip
    release.refresh_from_db()
    return release


@pytest.fixture
def release(sre_project, platform_lead):
    return make_release(sre_project, platform_lead)


def deploy(url: str, files: dict[str, str] | None = None, versions=RELEASE_VERSIONS) -> None:
    """Apply the release's migrations to ``url`` as the CLI would (a deployment)."""
    chosen = [
        MigrationFile.from_text(name.rsplit("/", 1)[-1], text)
        for name, text in (files or FILES).items()
        if name.startswith("migrations/") and name.split("/")[1][:14] in versions
    ]
    with psycopg.connect(url, autocommit=True) as conn:
        report = apply_files(conn, chosen, log=lambda s, t: None)
    assert report.ok, report.first_failure and report.first_failure.describe()


def history(url: str) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT version FROM supabase_migrations.schema_migrations ORDER BY 1"
        ).fetchall()
    return [r[0] for r in rows]


def columns(url: str, table: str) -> list[str]:
    schema, name = table.split(".")
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            [schema, name],
        ).fetchall()
    return [r[0] for r in rows]
