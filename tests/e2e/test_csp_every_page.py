"""Every page a platform lead can open, in Chromium: no CSP violation, no broken asset.

The pages are the GET rows of the permission matrix, so a new page is checked as soon as
it is in the matrix (and the matrix insists that every URL is).
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.e2e.conftest import login
from tests.factories import PASSWORD
from tests.test_permission_matrix import MATRIX, OK, world  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Downloads and machine answers are not pages.
NOT_PAGES = {
    "release_report", "release_evidence_pack", "audit_export_csv", "audit_export_jsonl",
    "backup_download", "backup_changelog", "api:openapi-json", "healthz", "job_log",
    "backups_panel", "release_jobs", "audit_public_key", "audit_public_keys",
    "audit_checkpoint_latest", "audit_verification", "release_revision", "job_result_json",
    "audit_offline_script",
}  # fmt: skip


def test_no_page_breaks_the_content_security_policy(page, live_server, world, personas):  # noqa: F811
    login(page, live_server, "lead", PASSWORD)
    failed_assets: list[str] = []
    page.on(
        "response",
        lambda r: (
            failed_assets.append(f"{r.status} {r.url}")
            if "/static/" in r.url and r.status >= 400
            else None
        ),
    )
    visited = []
    for name, row in sorted(MATRIX.items()):
        if row.method != "GET" or name in NOT_PAGES or row.expect["platform_lead"] != OK:
            continue
        url = live_server.url + reverse(name, kwargs=row.kwargs(world))
        response = page.goto(url)
        assert response is not None and response.status < 500, (name, response and response.status)
        visited.append(name)
    assert len(visited) > 25
    assert page.csp.violations == []
    assert failed_assets == []
