"""No server path on the SRE pages: what a member saw was the portal's backup folder.

A backup's page said "in Local folder /work/x/.local/backups" to every member, auditors
included, and a rollback plan's restore step read ``psql ... -f /work/x/.local/backups/
ibimina/production/<file>.sql``. The pages now say where the files are in words and
name the file; every text a job or a restore wrote passes ``scrub_paths`` like the job
pages. Other projects' pages stay 404 (tests/migrations_ops/backups/test_sre_pages.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from migrations_ops.models import BackupManifest, Incident, RollbackPlan
from migrations_ops.pg.rollback_plan import restore_commands
from migrations_ops.rollback.services import backup_choice

READERS = ["auditor", "release_engineer", "qa_lead", "sre", "platform_lead"]
SHA = "3f" * 32


@pytest.fixture
def backup(release, target, backup_dir):
    key = "ibimina/production/20250102T120000Z_pre_migration.sql"
    when = datetime(2025, 1, 2, 12, tzinfo=UTC)
    return BackupManifest.objects.create(
        project=release.project, release=release, target=target, schemas=["app"],
        location=str(backup_dir), file_name=key.rsplit("/", 1)[1], file_key=key,
        manifest_key=key + ".manifest.json", sha256=SHA, size=2_400_000,
        started_at=when, finished_at=when, verify_state="failed", verified_at=when,
        verification={"summary": f"pg_restore could not read {backup_dir}/{key}",
                      "differences": [{"message": f"{backup_dir}/{key}: 3 rows missing"}]},
    )  # fmt: skip


@pytest.fixture
def pages(release, target, backup, backup_dir):
    choice = backup_choice(backup)
    assert str(backup_dir) in choice.file_path  # what a stored plan holds
    plan = RollbackPlan.objects.create(
        project=release.project, release=release, target=target, backup=backup,
        steps=[{"kind": "restore", "file": backup.file_name, "backup_id": backup.pk,
                "reason": "no down script", "reverts": ["20250104000000"], "loses": ["writes"],
                "loses_text": "writes since the backup are lost",
                "commands": restore_commands(choice, ["20250104000000"])}],
        rehearsal={"summary": f"restored {backup_dir}/x.sql",
                   "difference_lines": [f"{backup_dir}/y differs"]},
        rehearsed_at=backup.finished_at,
    )  # fmt: skip
    incident = Incident.objects.create(
        project=release.project, release=release, target=target, title="Checkout down",
        trigger="monitoring_alert", opened_by_name="sre",
        assessment={"error": f"could not open {backup_dir}/socket"},
    )  # fmt: skip
    return [
        "/backups/",
        f"/backups/{backup.pk}/",
        "/rollbacks/",
        f"/rollbacks/{plan.pk}/",
        "/incidents/",
        f"/incidents/{incident.pk}/",
        f"/projects/{release.project.slug}/environments/",
    ]


@pytest.mark.parametrize("who", READERS)
def test_it_shows_no_server_path_on_any_sre_page(client, personas, who, pages, backup_dir):
    client.force_login(personas[who])
    folder = str(backup_dir)
    for url in pages:
        page = client.get(url)
        assert page.status_code == 200, url
        assert folder not in page.text, url
        assert str(backup_dir.parent) not in page.text, url


def test_the_backup_page_says_what_the_file_is_and_where_it_is_kept(
    client, personas, backup, pages
):
    # An SRE: what the restore check found is for those who read production's rows.
    client.force_login(personas["sre"])
    html = client.get(f"/backups/{backup.pk}/").text
    assert f"<dt>File</dt><dd><code>{backup.file_name}</code> (plain)</dd>" in html
    assert "<dt>Kept in</dt><dd>the portal&#x27;s local backup folder</dd>" in html
    assert SHA in html and "2.3 MB (2,400,000 bytes)" in html
    assert f"pg_restore could not read {backup.file_name}" in html  # the name, not the path
    restore = client.get(pages[3]).text
    assert f"-f {backup.file_name}" in restore


def test_an_s3_backup_names_its_bucket(client, personas, backup):
    BackupManifest.objects.filter(pk=backup.pk).update(storage="s3", location="s3://dumps/pre/")
    client.force_login(personas["auditor"])
    html = client.get(f"/backups/{backup.pk}/").text
    assert "<dt>Kept in</dt><dd>the S3 bucket s3://dumps/pre/</dd>" in html
