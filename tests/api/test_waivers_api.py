"""The gate's checks and waivers through the API: the 409 lists failed checks by kind and
job id; waivers are in the gate's bodies and at /releases/<id>/waivers; the OpenAPI
documents both."""

from __future__ import annotations

from checklists.services.items import evidence_from_job
from checklists.services.waivers import waiver_approve, waiver_ask
from tests.api.conftest import url
from tests.checklists.conftest import item
from tests.checklists.reports.factories import JobFactory
from tests.factories import current_digest

PENDING = "review-supabase-dashboard-pending-failed"


def test_the_409_lists_a_failed_check_by_kind_and_job(api, release_with_files):
    release = release_with_files
    job = JobFactory(
        release=release, kind="pending", state="failed", ok=False,
        summary="2 failed migrations", content_digest=release.content_digest,
    )  # fmt: skip
    evidence_from_job(job=job)
    response = api.get(url(f"/releases/{release.pk}/gate"))
    assert response.status_code == 409
    body = response.json()
    check = next(c for c in body["failed_checks"] if c["step"] == PENDING)
    assert check["status"] == "failed"
    assert check["failures"][0]["kind"] == "job:pending"
    assert check["failures"][0]["job"] == job.pk
    assert f"job:pending job #{job.pk}" in body["error"]
    assert body["has_migrations"] is True and body["waivers"] == []


def test_approved_waivers_are_in_the_gate_body_and_their_own_list(
    api, api_for, release_with_files, release_engineer, platform_lead, outsider, other_project
):
    release = release_with_files
    waiver = waiver_ask(
        item=item(release, PENDING), user=release_engineer,
        reason="Dashboard shows a known stuck row", seen_digest=current_digest(release),
    )  # fmt: skip
    assert api.get(url(f"/releases/{release.pk}/waivers")).json() == []  # asked only
    waiver_approve(waiver=waiver, user=platform_lead, seen_digest=current_digest(release))
    listed = api.get(url(f"/releases/{release.pk}/waivers"))
    assert listed.status_code == 200
    [shown] = listed.json()
    assert shown["step"] == PENDING and shown["asked_by"] == "releng"
    assert shown["approved_by"] == "lead" and shown["reason"] == waiver.reason
    gate = api.get(url(f"/releases/{release.pk}/gate")).json()
    assert [w["id"] for w in gate["waivers"]] == [waiver.pk]
    assert PENDING not in {c["step"] for c in gate["failed_checks"]}
    # The read scope is needed; another project's token sees nothing.
    assert api_for("deploy").get(url(f"/releases/{release.pk}/waivers")).status_code == 403
    elsewhere = api_for("read", project=other_project, lead=outsider)
    assert elsewhere.get(url(f"/releases/{release.pk}/waivers")).status_code == 404


def test_the_openapi_documents_waivers_and_the_new_409_reasons(client):
    schema = client.get("/api/openapi.json").json()
    assert "/api/releases/{release_id}/waivers" in schema["paths"]
    gate = schema["components"]["schemas"]["GateOut"]["properties"]
    assert {"failed_checks", "waivers", "has_migrations", "override_unconfirmed"} <= set(gate)
    described = schema["paths"]["/api/releases/{release_id}/gate"]["get"]["description"]
    assert "failed_checks" in described and "has_migrations" in described
    assert "WaiverOut" in schema["components"]["schemas"]
