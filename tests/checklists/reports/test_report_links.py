"""The report's evidence labels (issue 13, case 7): evidence is compared with the content
digest (what jobs and CI ran against), not the release digest (which moves with every
tick); each label links to the object it names: the backup by its backup id (not the job
id of its restore check), the rollback plan, the job, the CI run, the file."""

from __future__ import annotations

from checklists.models import Evidence
from checklists.reports.release_report import release_report_markdown
from tests.checklists.reports.factories import (
    EvidenceFactory,
    JobFactory,
    items_by_position,
    release_with_checklist,
)

BASE = "https://releases.example.com/"


def test_current_evidence_is_not_called_older(project, release_engineer):
    release = release_with_checklist(project=project, owner=release_engineer)
    assert release.digest != release.content_digest
    first = items_by_position(release)[0]
    EvidenceFactory(item=first, digest=release.content_digest, created_by_name="ci")
    report = release_report_markdown(release)
    assert "older" not in report
    EvidenceFactory(item=first, digest="0" * 64, created_by_name="ci", summary="old run")
    report = release_report_markdown(release)
    assert report.count("*for older migrations*") == 1


def test_a_backup_label_links_the_backup_not_its_restore_check_job(project, release_engineer):
    release = release_with_checklist(project=project, owner=release_engineer)
    item = items_by_position(release)[3]
    job = JobFactory(release=release, kind="restore_check", summary="restored and compared")
    backup_id = job.pk + 1000  # never the job's id
    EvidenceFactory(
        item=item, kind=Evidence.Kind.BACKUP, job=job, url="", digest=release.content_digest,
        summary="backup.dump on staging: verified", data={"backup_id": backup_id},
    )  # fmt: skip
    EvidenceFactory(
        item=item, kind=Evidence.Kind.ROLLBACK_PLAN, url="", digest=release.content_digest,
        summary="rollback plan", data={"plan_id": 7},
    )  # fmt: skip
    report = release_report_markdown(release, base_url=BASE)
    assert f"[backup #{backup_id}]({BASE}backups/{backup_id}/)" in report
    assert f"{BASE}backups/{job.pk}/" not in report
    assert f"[job #{job.pk} (Restore check)]({BASE}jobs/{job.pk}/)" in report
    assert f"[rollback plan #7]({BASE}rollbacks/7/)" in report
