"""Releases pin the latest published version (release_create is the lead's service)."""

from __future__ import annotations

from checklists.runbooks.selectors import latest_published_version
from checklists.runbooks.services import (
    runbook_ensure_default,
    runbook_import,
    runbook_publish,
)
from checklists.services.releases import release_create
from release_portal.audit.models import AuditEvent


def new_release(project, owner, title="Release"):
    # One release per commit: each call ships the next commit.
    sha = f"{project.releases.count() + 1:040x}"
    return release_create(
        project=project, title=title, owner=owner, commit_sha=sha, created_by=owner
    )


def test_a_release_pins_the_published_version_and_keeps_it(
    project, platform_lead, published, runbook_v1_bytes
):
    first = new_release(project, platform_lead)
    assert first.runbook_version == published
    assert first.items.count() == 13
    v2 = runbook_import(project=project, source_bytes=runbook_v1_bytes, user=platform_lead)
    assert new_release(project, platform_lead).runbook_version == published  # v2 is a draft
    runbook_publish(version=v2, user=platform_lead, notes="v2")
    assert new_release(project, platform_lead).runbook_version == v2
    first.refresh_from_db()
    assert first.runbook_version == published


def test_the_shipped_runbook_becomes_version_one_once(project):
    version = runbook_ensure_default(project=project)
    assert (version.number, version.status, version.steps.count()) == (1, "published", 13)
    assert version.history[-1]["by"] == "system"
    assert runbook_ensure_default(project=project) == version
    assert latest_published_version(project) == version
    assert AuditEvent.objects.filter(action="runbook.import").count() == 1
