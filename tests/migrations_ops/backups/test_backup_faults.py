"""Bad input and faults, seen from the portal: a failed job, no manifest row, no file left."""

from __future__ import annotations

import os

import pytest

from migrations_ops.backups.services import backup_capture
from migrations_ops.models import BackupManifest, Job
from tests.migrations_ops.runners.test_backup import _file_size_limit
from tests.sre_fixtures import URL_VAR, run_job

pytestmark = pytest.mark.usefixtures("transactional_db", "sent")

FAKE_PG_DUMP = """#!/bin/sh
if [ "$1" = "--version" ]; then echo "pg_dump (PostgreSQL) 99.0"; exit 0; fi
printf -- '--\\n-- PostgreSQL database dump\\n--\\nCREATE TABLE app.partial (\\n'
kill -9 $$
"""


def _files(folder) -> list[str]:
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _capture_fails(release, target, sre, backup_dir) -> Job:
    job = run_job(backup_capture(release=release, target=target, user=sre))
    assert job.state == Job.State.FAILED
    assert not BackupManifest.objects.exists()
    assert not Job.objects.filter(kind=Job.Kind.RESTORE_CHECK).exists()
    assert _files(backup_dir) == []
    return job


def test_it_fails_on_a_wrong_database_url(release, target, sre, backup_dir, monkeypatch):
    monkeypatch.setenv(URL_VAR, "postgresql://postgres@127.0.0.1:5432/rp_no_such_database")
    job = _capture_fails(release, target, sre, backup_dir)
    assert "could not connect to production (127.0.0.1:5432)" in job.summary
    assert "rp_no_such_database" in job.summary


def test_it_fails_on_a_missing_schema(production, release, target, sre, backup_dir):
    release.project.schemas = ["app", "billing"]
    release.project.save()
    job = _capture_fails(release, target, sre, backup_dir)
    assert "schema billing does not exist in production" in job.summary


def test_it_fails_when_the_backup_folder_cannot_be_made(
    production, release, target, sre, settings, tmp_path
):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    settings.BACKUP_DIR = blocker / "backups"
    job = _capture_fails(release, target, sre, settings.BACKUP_DIR)
    assert "cannot create the output folder" in job.summary


def test_it_keeps_no_partial_file_when_the_disk_fills(production, release, target, sre, backup_dir):
    with _file_size_limit(64 * 1024):
        job = _capture_fails(release, target, sre, backup_dir)
    assert "No backup was kept" in job.summary


def test_it_keeps_no_partial_file_when_pg_dump_is_killed(
    production, release, target, sre, backup_dir, tmp_path, monkeypatch
):
    fake = tmp_path / "fakebin"
    fake.mkdir()
    (fake / "pg_dump").write_text(FAKE_PG_DUMP)
    os.chmod(fake / "pg_dump", 0o700)
    monkeypatch.setenv("PG_BIN_DIR", str(fake))
    job = _capture_fails(release, target, sre, backup_dir)
    assert "pg_dump was killed (SIGKILL)" in job.summary
