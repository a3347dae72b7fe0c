"""The demo's world for the browser stories, built on the test server.

A project set up like the demo (role fixtures, seed, a lint command), a throwaway
"staging" database with the demo's first two migrations applied, and the demo's
supabase/ folder as the zip a release engineer uploads.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from migrations_ops import demo
from migrations_ops.models import Project, Target
from migrations_ops.pg import pgtools, scratch
from migrations_ops.pg.apply import MigrationFile, apply_files

STAGING_ENV = "E2E_STAGING_DATABASE_URL"


def demo_zip(*, extra: dict[str, str] | None = None) -> bytes:
    """The demo's bundle as a zip; ``extra`` adds files or replaces the demo's own (each
    path written once: a zip holding a name twice is refused on upload)."""
    files: dict[str, str | bytes] = {f.path: f.data for f in demo.demo_bundle_files()}
    files.update(extra or {})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return buffer.getvalue()


def write_zip(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


@contextmanager
def staging_database() -> Iterator[str]:
    """A throwaway staging with the Supabase basics and the demo's two applied migrations."""
    with scratch.scratch_database(
        purpose="e2e_staging", server_url=pgtools.scratch_server_url()
    ) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute((demo.DEMO_SUPABASE / "tests/fixtures/roles.sql").read_text())
            files = [
                MigrationFile.from_path(demo.DEMO_SUPABASE / "migrations" / f)
                for f in demo.DEMO_APPLIED
            ]
            report = apply_files(conn, files, log=lambda stream, text: None)
            assert report.first_failure is None, report.first_failure
            conn.execute((demo.DEMO_SUPABASE / "tests/fixtures/seed.sql").read_text())
        yield url


def configure_project(project: Project) -> Target:
    demo.demo_project_settings(project)
    project.required_secret_names = [STAGING_ENV]
    project.save()
    return Target.objects.create(
        project=project, name="staging", kind=Target.Kind.STAGING, url_env_var=STAGING_ENV
    )
