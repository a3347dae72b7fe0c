"""Deployments: the gate's digest, the deploy lock, the release's state, the outcome."""

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction

from checklists.deployments.services import deployment_start, gate_break_glass
from checklists.models import Deployment, Release
from checklists.services.releases import release_create
from release_portal.audit.models import AuditEvent
from tests.api.conftest import open_incident, url
from tests.factories import PASSWORD, current_digest, one_lead_breaks_glass


def deployments_url(release):
    return url(f"/releases/{release.pk}/deployments")


def start(api, release, target="production", **extra):
    body = {"target": target, "status": "started", "digest": release.digest, **extra}
    return api.post(deployments_url(release), body)


def test_it_starts_a_production_deployment_of_the_approved_digest(api, approved_release):
    response = start(api, approved_release, run_url="https://ci.example.com/runs/9")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "started" and body["target_kind"] == "production"
    assert body["digest"] == approved_release.digest
    assert body["release_state"] == "deploying"
    assert Release.objects.get(pk=approved_release.pk).state == "deploying"
    event = AuditEvent.objects.get(action="deployment.start")
    assert event.actor_kind == "token"


def test_it_refuses_production_while_the_gate_is_closed(api, release_with_files, targets):
    response = start(api, release_with_files)
    assert response.status_code == 409
    body = response.json()
    assert body["error"].startswith("The gate is closed")
    assert len(body["detail"]["missing_items"]) == 12
    assert not Deployment.objects.exists()


def test_it_refuses_a_digest_other_than_the_gates(api, approved_release):
    response = start(api, approved_release, digest="0" * 64)
    assert response.status_code == 409
    assert response.json()["detail"] == {"digest": approved_release.digest}
    missing = start(api, approved_release, digest="")
    assert missing.status_code == 409
    assert not Deployment.objects.exists()


def test_it_moves_the_release_to_monitoring_on_success(api, approved_release):
    dep = start(api, approved_release).json()
    response = api.patch(deployments_url(approved_release) + f"/{dep['id']}", {
        "status": "succeeded", "log_url": "https://ci.example.com/runs/9/log",
    })  # fmt: skip
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "succeeded" and body["release_state"] == "monitoring"
    assert body["hint"] is None
    assert Deployment.objects.get().log_url.endswith("/log")
    # The runbook's post-deploy monitoring window opened on production.
    from migrations_ops.monitoring.models import MonitoringWindow

    window = MonitoringWindow.objects.get(release=approved_release)
    assert window.target.kind == "production" and window.ended_at is None


def test_it_moves_the_release_to_failed_and_hints_at_an_incident(
    api, approved_release, django_capture_on_commit_callbacks, caplog
):
    dep = start(api, approved_release).json()
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            deployments_url(approved_release) + f"/{dep['id']}", {"status": "failed"}
        )
    assert response.status_code == 200
    body = response.json()
    assert body["release_state"] == "failed"
    assert "open an incident" in body["hint"]
    assert AuditEvent.objects.filter(action="notify.deploy.failed").count() == 1
    assert "deploy.failed" in caplog.text


def test_it_answers_a_repeated_outcome_without_changing_anything(api, approved_release):
    dep = start(api, approved_release).json()
    finish = deployments_url(approved_release) + f"/{dep['id']}"
    assert api.patch(finish, {"status": "succeeded"}).status_code == 200
    again = api.patch(finish, {"status": "succeeded"})
    assert again.status_code == 200 and "already finished" in again.json()["hint"]
    other = api.patch(finish, {"status": "failed"})
    assert other.status_code == 409
    assert AuditEvent.objects.filter(action="deployment.finish").count() == 1


def test_it_holds_one_deploy_lock_per_target(api, release_with_files, project, platform_lead):
    second = release_create(
        project=project, title="Second", owner=platform_lead, commit_sha="d" * 40,
        created_by=platform_lead,
    )  # fmt: skip
    assert start(api, release_with_files, target="staging").status_code == 201
    locked = start(api, second, target="staging")
    assert locked.status_code == 409
    assert "staging is locked by deployment" in locked.json()["error"]
    assert locked.json()["detail"]["locked_by"]["release"] == release_with_files.pk
    assert start(api, second, target="staging", kind="rollback").status_code == 409
    dep = Deployment.objects.get()
    api.patch(deployments_url(release_with_files) + f"/{dep.pk}", {"status": "succeeded"})
    assert start(api, second, target="staging").status_code == 201


def test_the_database_refuses_a_second_active_deployment(approved_release, targets):
    target = targets["production"]
    Deployment.objects.create(
        release=approved_release, target=target, digest="x", started_by_name="a"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Deployment.objects.create(
            release=approved_release, target=target, digest="x", started_by_name="b"
        )


def test_it_leaves_staging_deployments_out_of_the_release_state(api, release_with_files):
    response = start(api, release_with_files, target="staging", digest="")
    assert response.status_code == 201
    assert response.json()["release_state"] == "preflight"


def test_it_deploys_under_break_glass_from_before_approval(api, release_with_files, platform_lead):
    one_lead_breaks_glass(release_with_files)
    override = gate_break_glass(
        release=release_with_files, seen_digest=current_digest(release_with_files),
        user=platform_lead, reason="Hotfix for the login outage",
        password=PASSWORD,
    )  # fmt: skip
    response = start(api, release_with_files)
    assert response.status_code == 201, response.content
    assert response.json()["break_glass"] == override.pk
    assert response.json()["release_state"] == "deploying"
    moved = AuditEvent.objects.filter(action="release.state").last()
    assert moved.data["break_glass"] == override.pk


def test_it_answers_404_for_unknown_targets_and_deployments(api, approved_release):
    response = start(api, approved_release, target="mars")
    assert response.status_code == 404
    assert response.json()["detail"] == {"targets": ["production", "staging"]}
    finish = api.patch(deployments_url(approved_release) + "/999999", {"status": "failed"})
    assert finish.status_code == 404


@pytest.mark.parametrize("scopes", [("read",), ("report",), ("read", "report")])
def test_it_needs_the_deploy_scope(api_for, approved_release, scopes):
    assert start(api_for(*scopes), approved_release).status_code == 403
    assert not Deployment.objects.exists()


# --- rollbacks: the same rules as the rollback job ------------------------------------------


def failed_release(release):
    Release.objects.filter(pk=release.pk).update(state=Release.State.FAILED)
    release.refresh_from_db()
    return release


def test_a_rollback_is_recorded_only_inside_an_open_incident(api, approved_release):
    release = failed_release(approved_release)
    response = start(api, release, kind="rollback", digest="")
    assert response.status_code == 409
    assert "No incident is open for this release on production" in response.json()["error"]
    assert not Deployment.objects.exists()
    assert Release.objects.get(pk=release.pk).state == "failed"


def test_a_rollback_is_recorded_only_with_maintenance_mode_on(api, approved_release, targets, sre):
    release = failed_release(approved_release)
    open_incident(release, targets["production"], sre, maintenance=False)
    response = start(api, release, kind="rollback", digest="")
    assert response.status_code == 409
    assert "maintenance mode on first" in response.json()["error"]
    assert not Deployment.objects.exists()


def test_a_recorded_rollback_takes_the_deploy_lock_and_ends_rolled_back(
    api, approved_release, targets, sre
):
    release = failed_release(approved_release)
    open_incident(release, targets["production"], sre)
    response = start(api, release, kind="rollback", digest="")
    assert response.status_code == 201, response.content
    again = start(api, release, kind="rollback", digest="")
    assert again.status_code == 409 and "locked by rollback" in again.json()["error"]
    finish = api.patch(deployments_url(release) + f"/{response.json()['id']}",
                       {"status": "succeeded"})  # fmt: skip
    assert finish.status_code == 200
    assert Release.objects.get(pk=release.pk).state == "rolled_back"


def test_people_record_a_rollback_with_the_rollback_permission_only(
    approved_release, targets, sre, release_engineer
):
    release = failed_release(approved_release)
    open_incident(release, targets["production"], sre)
    production = targets["production"]
    with pytest.raises(PermissionDenied):
        deployment_start(release=release, target=production, actor=release_engineer,
                         kind=Deployment.Kind.ROLLBACK)  # fmt: skip
    assert not Deployment.objects.exists()
    started = deployment_start(release=release, target=production, actor=sre,
                               kind=Deployment.Kind.ROLLBACK)  # fmt: skip
    assert started.kind == "rollback" and started.status == "started"
