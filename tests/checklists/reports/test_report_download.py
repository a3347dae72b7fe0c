"""/releases/<id>/report.md: any member downloads it, it is audited, outsiders get 404."""

from __future__ import annotations

import pytest
from django.urls import reverse

from release_portal.audit.models import AuditEvent

MEMBER_ROLES = ["platform_lead", "release_engineer", "qa_lead", "sre", "auditor"]


def url(release) -> str:
    return reverse("release_report", args=[release.pk])


@pytest.mark.parametrize("role", MEMBER_ROLES)
def test_it_gives_every_member_the_report_as_a_download(client, personas, release, role):
    client.force_login(personas[role])
    response = client.get(url(release))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="release-{release.pk}-report.md"'
    )
    report = response.content.decode()
    assert report.startswith("# Release report: Ledger: add savings groups")
    assert f"[#{release.pk}](http://testserver/releases/{release.pk}/)" in report


def test_it_hides_the_release_from_another_project(client, personas, release):
    client.force_login(personas["outsider"])
    assert client.get(url(release)).status_code == 404
    assert not AuditEvent.objects.filter(action="release.report").exists()


def test_it_answers_404_for_a_release_that_does_not_exist(client, personas, release):
    client.force_login(personas["auditor"])
    assert client.get(reverse("release_report", args=[release.pk + 1000])).status_code == 404


def test_it_records_the_download_and_names_it_as_the_head(client, personas, release):
    client.force_login(personas["qa_lead"])
    report = client.get(url(release)).content.decode()
    event = AuditEvent.objects.get(action="release.report")
    assert (event.actor_name, event.release_id, event.project_id) == (
        "qa", release.pk, release.project_id
    )  # fmt: skip
    assert f"- Head at report time: #{event.seq} `{event.hash}`" in report


def test_it_needs_a_get(client, personas, release):
    client.force_login(personas["auditor"])
    assert client.post(url(release)).status_code == 405


@pytest.mark.parametrize(
    ("role", "pack"),
    [("platform_lead", True), ("auditor", True), ("release_engineer", True),
     ("qa_lead", False), ("sre", False)],
)  # fmt: skip
def test_the_download_links_follow_the_same_rules_as_the_views(
    client, personas, release, role, pack
):
    from django.template.loader import render_to_string

    from release_portal.accounts.roles import ProjectAccess

    user = personas[role]
    html = render_to_string(
        "checklists/reports/downloads.html",
        {"release": release, "access": ProjectAccess(user, release.project), "user": user},
    )
    assert f'href="{url(release)}"' in html
    pack_url = reverse("release_evidence_pack", args=[release.pk])
    assert (f'href="{pack_url}"' in html) is pack
    client.force_login(user)
    assert client.get(pack_url).status_code == (200 if pack else 403)
    assert f'href="{reverse("audit_log")}?release={release.pk}"' in html
