"""Runbook §5.1: the backup is taken before the production apply. The gate stays shut
while the verified production backup proving the backup step is older than the project
allows (``backup_max_age_hours``, 24 by default; 0: no limit), saying to take and verify
another. Times are the gate's ``at``: no test sleeps."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from checklists.deployments.gate import gate_status
from tests.checklists.test_backup_proof import approved_with_backup, production

__all__ = ["production"]  # the fixture, for the tests below


def test_an_old_backup_keeps_the_gate_shut_saying_so(
    release_with_files, production, platform_lead, sre, tmp_path
):
    release = release_with_files
    backup = approved_with_backup(release, production, platform_lead, sre, tmp_path)
    assert gate_status(release, at=timezone.now() + timedelta(hours=23)).open
    later = timezone.now() + timedelta(hours=25)
    gate = gate_status(release, at=later)
    assert not gate.open
    assert gate.old_backup is not None
    assert (gate.old_backup["file"], gate.old_backup["max_age_hours"]) == (backup.file_name, 24)
    assert any(
        r.startswith(f"the verified backup {backup.file_name} was taken at ")
        and "more than 24 h ago" in r
        for r in gate.reasons
    )
    assert gate.as_dict()["old_backup"]["file"] == backup.file_name  # the API's answer too


def test_a_project_may_set_another_age_or_none(
    release_with_files, project, production, platform_lead, sre, tmp_path
):
    release = release_with_files
    approved_with_backup(release, production, platform_lead, sre, tmp_path)
    much_later = timezone.now() + timedelta(days=30)
    project.backup_max_age_hours = 0
    project.save()
    release.refresh_from_db()
    assert gate_status(release, at=much_later).open
    project.backup_max_age_hours = 2
    project.save()
    release.refresh_from_db()
    assert not gate_status(release, at=timezone.now() + timedelta(hours=3)).open
