"""``apply_start`` and the apply job through the job engine, on real "staging" and
"production" databases: the gate is checked when the job is queued, the digest again
when it runs."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from checklists.deployments.apply import apply_start
from checklists.deployments.gate import GateClosed
from checklists.deployments.services import DeployLocked
from checklists.models import Deployment, FreezeWindow, Release
from checklists.services.items import item_untick
from migrations_ops.jobs import job_enqueue, job_execute
from migrations_ops.models import Job
from migrations_ops.monitoring.models import MonitoringWindow
from release_portal.audit.models import AuditEvent
from release_portal.templatetags.portal import utc_time
from tests.factories import current_digest, one_lead_breaks_glass

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("sent")]


def run(job) -> Job:
    job_execute(job_id=job.pk, worker="test-worker")
    job.refresh_from_db()
    return job


def versions(url):
    with psycopg.connect(url) as conn:
        table = conn.execute("select to_regclass('supabase_migrations.schema_migrations')")
        if table.fetchone()[0] is None:
            return []
        rows = conn.execute(
            "select version from supabase_migrations.schema_migrations order by version"
        ).fetchall()
    return [r[0] for r in rows]


def test_it_applies_to_staging_without_a_gate(
    release_with_files, staging_target, staging_db, release_engineer
):
    job = apply_start(release=release_with_files, target=staging_target, user=release_engineer)
    assert job.kind == "apply" and job.queue == "backups" and job.max_attempts == 1
    assert "approved_digest" not in job.params
    job = run(job)
    assert job.state == "succeeded", job.summary
    assert job.summary == "applied 2 migration(s) to staging"
    assert versions(staging_db) == ["20250101000000", "20250102000000"]
    assert AuditEvent.objects.filter(action="apply.start", data__job=job.pk).exists()


@pytest.mark.django_db
def test_it_refuses_production_while_the_gate_is_closed(
    release_with_files, production_target, production_db, platform_lead
):
    with pytest.raises(GateClosed, match="gate is closed"):
        apply_start(release=release_with_files, target=production_target, user=platform_lead)
    assert not Job.objects.filter(kind="apply").exists()
    assert AuditEvent.objects.filter(action="apply.refused").count() == 1
    assert versions(production_db) == []


def test_it_applies_to_production_when_the_gate_is_open(
    approved_release, production_target, production_db, platform_lead
):
    job = apply_start(release=approved_release, target=production_target, user=platform_lead)
    assert job.params["gate_checked"] is True
    assert job.params["approved_digest"] == approved_release.digest
    # The target's deploy lock is held, and the release is deploying.
    deployment = Deployment.objects.get(pk=job.params["deployment_id"])
    assert (deployment.status, deployment.digest) == ("started", approved_release.digest)
    approved_release.refresh_from_db()
    assert approved_release.state == "deploying"

    job = run(job)
    assert job.state == "succeeded", job.summary
    assert versions(production_db) == ["20250101000000", "20250102000000"]
    deployment.refresh_from_db()
    approved_release.refresh_from_db()
    assert deployment.status == "succeeded"
    # The runbook's 30 minutes of post-deploy monitoring begin.
    assert approved_release.state == "monitoring"
    window = MonitoringWindow.objects.get(release=approved_release)
    assert window.running and window.target == production_target


def test_it_refuses_production_when_the_release_changed_after_approval(
    approved_release, production_target, production_db, platform_lead
):
    job = apply_start(release=approved_release, target=production_target, user=platform_lead)
    # While the job waits for a worker the release's digest changes (late evidence).
    Release.objects.filter(pk=approved_release.pk).update(digest="f" * 64)
    job = run(job)
    assert job.state == "failed"
    assert "the release changed after the gate approved it" in job.summary
    assert job.result["held"] == job.summary
    assert versions(production_db) == []
    # The deployment ends held: the lock is free and, since nothing touched production,
    # the release is not failed: it goes back to what its checklist and sign-offs say.
    assert Deployment.objects.get().status == "failed"
    approved_release.refresh_from_db()
    assert approved_release.state not in ("failed", "deploying", "monitoring")
    assert not MonitoringWindow.objects.exists()
    event = AuditEvent.objects.get(action="deployment.finish")
    assert "nothing was applied" in event.data["held"]


def test_the_checklist_is_frozen_while_production_is_applied_to(
    approved_release, production_target, platform_lead
):
    apply_start(release=approved_release, target=production_target, user=platform_lead)
    item = approved_release.items.filter(step__is_signoff=False).first()
    with pytest.raises(ValidationError), transaction.atomic():
        item_untick(item=item, user=platform_lead, reason="the smoke tests were not run")


def test_it_refuses_production_while_another_deployment_holds_it(
    approved_release, production_target, platform_lead
):
    Deployment.objects.create(
        release=approved_release, target=production_target, digest=approved_release.digest,
        started_by_name="ci",
    )  # fmt: skip
    with pytest.raises(DeployLocked, match="production is locked by deployment"):
        apply_start(release=approved_release, target=production_target, user=platform_lead)
    assert not Job.objects.filter(kind="apply").exists()


def test_it_refuses_a_production_apply_queued_without_the_gate_check(
    approved_release, production_target, production_db, platform_lead
):
    # As a generic enqueue would: no approved digest recorded, and parameters cannot
    # claim the release digest or the target kind.
    job = job_enqueue(
        kind="apply", project=approved_release.project, release=approved_release,
        target=production_target, created_by=platform_lead,
        params={"gate_checked": True, "approved_digest": "0" * 64,
                "release_digest": "0" * 64, "target_kind": "staging"},
    )  # fmt: skip
    job = run(job)
    assert job.state == "failed"
    assert "changed after the gate approved it" in job.summary
    assert versions(production_db) == []


@pytest.mark.django_db  # no job runs: the faster test database is enough
@pytest.mark.parametrize("role", ["qa_lead", "auditor", "outsider"])
def test_it_refuses_people_who_may_not_deploy(
    release_with_files, staging_target, staging_db, personas, role
):
    with pytest.raises(PermissionDenied):
        apply_start(release=release_with_files, target=staging_target, user=personas[role])
    assert not Job.objects.filter(kind="apply").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["platform_lead", "release_engineer", "sre"])
def test_it_lets_deployers_start_it(release_with_files, staging_target, personas, role):
    job = apply_start(release=release_with_files, target=staging_target, user=personas[role])
    assert job.state == "queued" and job.created_by == personas[role]


@pytest.mark.django_db
def test_a_break_glass_override_opens_production_and_is_recorded(
    release_with_files, production_target, platform_lead, password
):
    from checklists.deployments.services import gate_break_glass

    one_lead_breaks_glass(release_with_files)
    override = gate_break_glass(
        release=release_with_files,
        seen_digest=current_digest(release_with_files),
        user=platform_lead,
        reason="prod is down",
        password=password,
    )
    job = apply_start(release=release_with_files, target=production_target, user=platform_lead)
    assert job.params["break_glass"] == override.pk
    assert job.params["approved_digest"] == release_with_files.digest
    event = AuditEvent.objects.get(action="apply.start")
    assert event.data["break_glass"] == override.pk


def _freeze_begins_now(release, reason="Black Friday") -> FreezeWindow:
    """A freeze window that begins after the deployment was queued (it is on when the
    worker starts the job)."""
    now = timezone.now()
    return FreezeWindow.objects.create(
        project=release.project, starts_at=now, ends_at=now + timedelta(hours=2),
        reason=reason,
    )  # fmt: skip


def test_a_deployment_queued_before_a_freeze_does_not_start_in_it(
    approved_release, production_target, production_db, platform_lead
):
    """The gate was open when the deployment was queued; a freeze window began while it
    waited for a worker. The worker refuses it before it connects: nothing is applied,
    the job says why and the way through, and the target is free again."""
    job = apply_start(release=approved_release, target=production_target, user=platform_lead)
    window = _freeze_begins_now(approved_release)

    job = run(job)

    assert job.state == "failed"
    assert "a freeze window (Black Friday) began at" in job.summary
    assert "nothing was applied" in job.summary and "breaks glass" in job.summary
    assert f"after the window ends ({utc_time(window.ends_at)})" in job.summary
    assert versions(production_db) == []
    assert job.result["held"] == job.summary
    # The target is free and the release still approved: after the window it starts
    # again through the gate, with no break-glass.
    deployment = Deployment.objects.get()
    assert deployment.status == "failed"
    approved_release.refresh_from_db()
    assert approved_release.state == "approved"
    assert not MonitoringWindow.objects.exists()
    event = AuditEvent.objects.get(action="deployment.finish")
    assert event.data["held"] == job.summary
    window.delete()  # the window is over
    again = run(apply_start(release=approved_release, target=production_target, user=platform_lead))
    assert again.state == "succeeded", again.summary
    assert versions(production_db) == ["20250101000000", "20250102000000"]


def test_a_break_glass_given_before_the_freeze_does_not_carry_through_it(
    release_with_files, production_target, production_db, platform_lead, password
):
    from checklists.deployments.services import gate_break_glass

    one_lead_breaks_glass(release_with_files)
    gate_break_glass(
        release=release_with_files, seen_digest=current_digest(release_with_files),
        user=platform_lead, reason="the hotfix for the login outage", password=password,
    )  # fmt: skip
    job = apply_start(release=release_with_files, target=production_target, user=platform_lead)
    _freeze_begins_now(release_with_files)

    job = run(job)

    assert job.state == "failed" and "a freeze window (Black Friday) began" in job.summary
    assert versions(production_db) == []
    release_with_files.refresh_from_db()  # never approved: back where its checklist is
    assert release_with_files.state not in ("approved", "deploying", "failed")


def test_a_break_glass_given_during_the_freeze_lets_the_deployment_through(
    approved_release, production_target, production_db, platform_lead, password
):
    from checklists.deployments.services import gate_break_glass

    queued = apply_start(release=approved_release, target=production_target, user=platform_lead)
    _freeze_begins_now(approved_release)
    assert run(queued).state == "failed"
    approved_release.refresh_from_db()

    one_lead_breaks_glass(approved_release)
    gate_break_glass(
        release=approved_release, seen_digest=current_digest(approved_release),
        user=platform_lead, reason="the outage fix cannot wait", password=password,
    )  # fmt: skip
    job = run(apply_start(release=approved_release, target=production_target, user=platform_lead))

    assert job.state == "succeeded", job.summary
    assert versions(production_db) == ["20250101000000", "20250102000000"]
