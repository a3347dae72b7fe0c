"""The project's "high-risk release requires the SRE's sign-off" setting: on, the gate needs
a risk result for the release's current content, and a high one needs the SRE."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from checklists.deployments.gate import gate_status
from checklists.models import SignOff
from checklists.services.errors import ChecklistError
from checklists.services.items import evidence_from_job
from migrations_ops.models import Job
from release_portal.api.tokens import token_create
from release_portal.audit.models import AuditEvent
from tests.factories import settle_checklist, sign_off

pytestmark = pytest.mark.django_db

MISSING, HIGH = "risk_result_missing", "high_risk_needs_sre_signoff"


@pytest.fixture
def rule_on(project):
    project.high_risk_requires_sre = True
    project.save()
    return project


def risk_result(release, level: str, *, digest: str | None = None) -> Job:
    """A risk job that ended with ``level``, recorded as the engine's end hook does."""
    now = timezone.now()
    job = Job.objects.create(
        project=release.project, release=release, kind=Job.Kind.RISK,
        state=Job.State.SUCCEEDED, ok=True, started_at=now, finished_at=now,
        content_digest=release.content_digest if digest is None else digest,
        result={"level": level, "reasons": [f"{level} for the test"], "statements": []},
        summary=f"release risk {level}",
    )  # fmt: skip
    evidence_from_job(job=job)
    release.refresh_from_db()
    return job


def settle(release, owner) -> None:
    settle_checklist(release, owner, reason="test: not in this release")


def sign(release, user, kind) -> None:
    sign_off(release, user, kind)
    release.refresh_from_db()


def test_without_a_risk_result_the_gate_says_so(rule_on, release_with_files, platform_lead):
    release = release_with_files
    settle(release, platform_lead)
    sign(release, platform_lead, SignOff.Kind.RELEASE_OWNER)
    assert release.state == "approved"

    gate = gate_status(release)
    assert gate.open is False
    assert gate.risk is not None and gate.risk["code"] == MISSING
    assert any("no risk result" in reason for reason in gate.reasons)


def test_a_risk_result_for_older_migrations_does_not_count(rule_on, release_with_files):
    risk_result(release_with_files, "low", digest="0" * 64)
    assert gate_status(release_with_files).risk["code"] == MISSING


def test_a_low_risk_result_lets_the_gate_open(rule_on, release_with_files, platform_lead):
    release = release_with_files
    job = risk_result(release, "low")
    settle(release, platform_lead)
    sign(release, platform_lead, SignOff.Kind.RELEASE_OWNER)

    gate = gate_status(release)
    assert gate.open is True, gate.reasons
    assert gate.risk == {"required": True, "code": None, "message": "", "level": "low",
                         "job": job.pk}  # fmt: skip


def test_a_high_risk_release_needs_the_sre(rule_on, release_with_files, platform_lead, sre):
    release = release_with_files
    risk_result(release, "high")
    settle(release, platform_lead)
    with pytest.raises(ChecklistError, match="waiting for the SRE / on-call sign-off"):
        sign(release, platform_lead, SignOff.Kind.RELEASE_OWNER)

    gate = gate_status(release)
    assert gate.open is False
    assert gate.risk["code"] == HIGH
    assert SignOff.Kind.SRE in [s["kind"] for s in gate.missing_signoffs]

    sign(release, sre, SignOff.Kind.SRE)
    sign(release, platform_lead, SignOff.Kind.RELEASE_OWNER)
    assert release.state == "approved"
    gate = gate_status(release)
    assert gate.open is True, gate.reasons
    assert gate.risk["code"] is None and gate.risk["level"] == "high"


def test_with_the_setting_off_the_risk_job_is_information_only(release_with_files, platform_lead):
    release = release_with_files
    assert release.project.high_risk_requires_sre is False
    risk_result(release, "high")
    settle(release, platform_lead)
    sign(release, platform_lead, SignOff.Kind.RELEASE_OWNER)
    gate = gate_status(release)
    assert gate.open is True and gate.risk is None


def test_the_gates_409_carries_the_reason_code(
    rule_on,
    release_with_files,
    platform_lead,
    client,
):
    release = release_with_files
    value = token_create(project=release.project, name="ci", scopes=["read"], user=platform_lead)
    answer = client.get(
        f"/api/releases/{release.pk}/gate", HTTP_AUTHORIZATION=f"Bearer {value.value}"
    )
    assert answer.status_code == 409
    body = answer.json()
    assert body["risk"]["code"] == MISSING
    assert "no risk result" in body["error"]
    schema = client.get("/api/openapi.json").json()["components"]["schemas"]
    assert "high_risk_needs_sre_signoff" in str(schema["GateRiskOut"])


def test_the_setting_is_on_by_default_on_the_settings_page_and_audited(
    client, project, platform_lead
):
    from migrations_ops.models import Project

    assert Project._meta.get_field("high_risk_requires_sre").default is True
    client.force_login(platform_lead)
    url = reverse("project_settings", args=[project.slug])
    page = client.get(url).content.decode()
    assert 'name="high_risk_requires_sre"' in page
    from migrations_ops.projects.forms import ProjectSettingsForm

    data = {
        k: ("\n".join(v) if isinstance(v, list) else v)
        for k, v in ProjectSettingsForm.initial_for(project).items()
        if v not in (None, False, "")
    }
    data["high_risk_requires_sre"] = "on"
    assert client.post(url, data).status_code == 302
    project.refresh_from_db()
    assert project.high_risk_requires_sre is True
    event = AuditEvent.objects.filter(action="project.settings_update").latest("seq")
    assert event.data["changed"]["high_risk_requires_sre"] == {"before": False, "after": True}


def test_the_release_page_places_the_card_with_at_most_one_query_more(
    client, personas, release_with_files
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    release = release_with_files
    url = reverse("release_detail", args=[release.pk])
    client.force_login(personas["qa_lead"])
    client.get(url)
    with CaptureQueriesContext(connection) as off:
        html = client.get(url).content.decode()
    release.project.high_risk_requires_sre = True
    release.project.save()
    with CaptureQueriesContext(connection) as on:
        client.get(url)
    assert len(on) - len(off) <= 1, [q["sql"] for q in on][-5:]
    # Only the card's place: its content comes from its own view, on reveal.
    assert f'hx-get="{reverse("release_analysis", args=[release.pk])}"' in html
    assert 'hx-trigger="revealed"' in html
    assert 'id="risk-table"' not in html
