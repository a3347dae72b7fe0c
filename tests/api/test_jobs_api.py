"""Starting jobs and following their log through the API."""

import pytest
from django.utils import timezone

from checklists.models import Deployment
from migrations_ops.models import Job, JobLogLine
from release_portal.audit.models import AuditEvent
from tests.api.conftest import open_incident, url


def jobs_url(release):
    return url(f"/releases/{release.pk}/jobs")


def test_it_queues_a_check_under_the_tokens_name(
    api, release_with_files, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as sent:
        response = api.post(jobs_url(release_with_files), {"kind": "order", "target": "staging"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["state"], body["target"]) == ("order", "queued", "staging")
    job = Job.objects.get()
    assert job.created_by is None and job.created_by_name == f"token:{api.token.name}"
    assert AuditEvent.objects.get(action="job.enqueue").actor_kind == "token"
    assert len(sent) == 1  # the message goes out after commit
    again = api.post(jobs_url(release_with_files), {"kind": "order", "target": "staging"})
    assert again.status_code == 200 and again.json()["id"] == job.pk
    assert again.json()["already_active"] is True
    assert Job.objects.count() == 1


def test_it_refuses_unknown_kinds_and_targets(api, release_with_files):
    assert api.post(jobs_url(release_with_files), {"kind": "mine_bitcoin"}).status_code == 422
    assert (
        api.post(jobs_url(release_with_files), {"kind": "order", "target": "mars"}).status_code
        == 404
    )
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    "scopes,kind,status",
    [
        (("report",), "order", 201),
        (("deploy",), "order", 403),
        (("report",), "apply", 403),
        (("report",), "rollback", 403),
        # They hold production connections (a dump of production, a restore of it).
        (("report",), "backup", 403),
        (("deploy",), "backup", 201),
        (("report",), "restore_check", 403),
        (("deploy",), "restore_check", 201),
        (("report",), "rehearsal", 403),
        (("deploy",), "rehearsal", 201),
    ],
)
def test_it_needs_report_for_checks_and_deploy_for_changes(
    api_for, release_with_files, scopes, kind, status
):
    response = api_for(*scopes).post(
        jobs_url(release_with_files), {"kind": kind, "target": "staging"}
    )
    assert response.status_code == status, response.content


@pytest.mark.parametrize("kind", ["order", "dry_run", "pending", "drift", "access", "secrets"])
def test_a_report_token_starts_no_check_on_production(
    api_for, release_with_files, kind, django_capture_on_commit_callbacks
):
    """The pre-flight kinds read the target they run on: with `report` alone they were
    queued on production, and a token that reports test results made the portal connect
    to it."""
    with django_capture_on_commit_callbacks() as sent:
        response = api_for("read", "report").post(
            jobs_url(release_with_files), {"kind": kind, "target": "production"}
        )
    assert response.status_code == 403, response.content
    body = response.json()
    assert body["error"] == (
        "This token lacks the deploy scope, which every job on production, a production "
        "target, needs (with report alone, run checks on staging): a platform lead creates "
        "a token with it on the project's API tokens page."
    )
    assert body["detail"] == {
        "required": ["deploy"], "token_scopes": ["read", "report"],
        "target": "production", "target_kind": "production",
    }  # fmt: skip
    assert not Job.objects.exists() and sent == []


@pytest.mark.parametrize("scopes", [("deploy",), ("report", "deploy")])
def test_a_deploy_token_starts_checks_on_production(api_for, release_with_files, scopes):
    response = api_for(*scopes).post(
        jobs_url(release_with_files), {"kind": "order", "target": "production"}
    )
    assert response.status_code == 201, response.content
    assert Job.objects.get().target.name == "production"


def test_a_report_token_still_starts_checks_on_staging_other_targets_and_none(
    api_for, project, release_with_files
):
    from migrations_ops.models import Target
    from tests.factories import TargetFactory

    TargetFactory(project=project, name="preview", kind=Target.Kind.OTHER)
    api = api_for("report")
    for target in ("staging", "preview", None):
        body = {"kind": "order"} | ({"target": target} if target else {})
        response = api.post(jobs_url(release_with_files), body)
        assert response.status_code == 201, (target, response.content)
    assert sorted(str(j.target) for j in Job.objects.all()) == sorted(
        str(t) for t in (Target.objects.get(name="staging"), Target.objects.get(name="preview"),
                         None)
    )  # fmt: skip


def test_the_kinds_table_and_the_api_agree_on_production(targets):
    from migrations_ops.jobs.kinds import KINDS, api_scope_for

    for kind, spec in KINDS.items():
        assert api_scope_for(kind, targets["production"]) == "deploy", kind
        assert api_scope_for(kind, targets["staging"]) == spec.api_scope, kind
        assert api_scope_for(kind) == spec.api_scope, kind


def test_it_refuses_to_apply_to_production_while_the_gate_is_closed(api, release_with_files):
    response = api.post(jobs_url(release_with_files), {"kind": "apply", "target": "production"})
    assert response.status_code == 409
    body = response.json()
    assert body["detail"]["open"] is False
    # The error says why, in the gate's own sentences (it said only "The gate is closed:
    # production is not applied to.", the reasons left to `detail`).
    assert body["error"] == (
        "The release gate is closed, so production is not applied to: "
        + "; ".join(body["detail"]["reasons"])
    )
    assert "checklist item(s) are not done" in body["error"]
    assert not Job.objects.exists()


def test_it_reads_a_jobs_log_after_a_sequence_number(api_for, project, release_with_files, targets):
    job = Job.objects.create(
        project=project, release=release_with_files, target=targets["staging"], kind="order",
        state="succeeded",
    )  # fmt: skip
    now = timezone.now()
    JobLogLine.objects.bulk_create(
        JobLogLine(job=job, seq=n, at=now, text=f"line {n}") for n in range(1, 4)
    )
    api = api_for("read")
    body = api.get(url(f"/jobs/{job.pk}"), after=1).json()
    assert [line["seq"] for line in body["lines"]] == [2, 3]
    assert body["next_after"] == 3 and body["done"] is True
    assert api.get(url(f"/jobs/{job.pk}"), after=3).json()["lines"] == []
    assert api_for("report").get(url(f"/jobs/{job.pk}")).status_code == 403


def test_it_hides_jobs_of_other_projects(
    api_for, project, other_project, outsider, release_with_files
):
    job = Job.objects.create(project=project, release=release_with_files, kind="order")
    foreign = api_for("read", "report", project=other_project, lead=outsider)
    assert foreign.get(url(f"/jobs/{job.pk}")).status_code == 404
    assert foreign.post(jobs_url(release_with_files), {"kind": "order"}).status_code == 404


def test_it_applies_to_production_only_through_the_gate_and_takes_the_deploy_lock(
    api, approved_release
):
    from checklists.models import Deployment
    from migrations_ops.models import Job

    response = api.post(
        f"/api/releases/{approved_release.pk}/jobs", {"kind": "apply", "target": "production"}
    )
    assert response.status_code == 201, response.content
    job = Job.objects.get(kind="apply")
    approved_release.refresh_from_db()
    assert job.params["approved_digest"] == approved_release.digest
    assert approved_release.state == "deploying"
    assert Deployment.objects.get(release=approved_release).status == "started"


def test_it_names_the_target_of_an_apply(api, approved_release):
    response = api.post(f"/api/releases/{approved_release.pk}/jobs", {"kind": "apply"})
    assert response.status_code == 422
    assert "Name the target" in response.json()["error"]


def test_it_refuses_a_disabled_target_saying_why(api, release_with_files, settings):
    # The operator allows this project's targets only IBIMINA_* variables.
    settings.PORTAL_TARGET_VARS = {release_with_files.project.slug: ["IBIMINA_*"]}
    response = api.post(jobs_url(release_with_files), {"kind": "order", "target": "staging"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error.startswith("the target staging is disabled: STAGING_DATABASE_URL is not among")
    assert "ask the operator to add it to PORTAL_TARGET_VARS" in error
    assert not Job.objects.exists()


def test_a_rollback_job_runs_only_from_an_open_incident(api, release_with_files, targets):
    response = api.post(jobs_url(release_with_files), {"kind": "rollback", "target": "staging"})
    assert response.status_code == 409
    assert "No incident is open for this release on staging" in response.json()["error"]
    assert not Job.objects.exists() and not Deployment.objects.exists()


def test_a_rollback_job_waits_for_maintenance_mode(api, release_with_files, targets, sre):
    open_incident(release_with_files, targets["production"], sre, maintenance=False)
    response = api.post(jobs_url(release_with_files), {"kind": "rollback", "target": "production"})
    assert response.status_code == 409
    assert "maintenance mode on first" in response.json()["error"]
    assert not Job.objects.exists() and not Deployment.objects.exists()


def test_a_rollback_job_runs_the_incidents_plan_under_the_deploy_lock(
    api, release_with_files, targets, sre, django_capture_on_commit_callbacks
):
    incident = open_incident(release_with_files, targets["production"], sre)
    body = {"kind": "rollback", "target": "production"}
    with django_capture_on_commit_callbacks():
        response = api.post(jobs_url(release_with_files), body)
    assert response.status_code == 201, response.content
    job = Job.objects.get(kind="rollback")
    assert job.params["plan_id"] == incident.plan_id
    assert job.params["incident_id"] == incident.pk
    lock = Deployment.objects.get(kind="rollback")
    assert lock.status == "started" and job.params["deployment_id"] == lock.pk
    again = api.post(jobs_url(release_with_files), body)
    assert again.status_code == 200 and again.json()["id"] == job.pk
    assert again.json()["already_active"] is True


def test_a_rollback_job_names_its_target(api, release_with_files):
    response = api.post(jobs_url(release_with_files), {"kind": "rollback"})
    assert response.status_code == 422
    assert "Name the target" in response.json()["error"]


def test_it_lists_each_attempt_with_its_worker_start_and_end(api_for, project, release_with_files):
    job = Job.objects.create(
        project=project, release=release_with_files, kind="order", state="succeeded",
        attempts=2, attempt_history=[
            {"attempt": 1, "worker": "celery@a", "started_at": "2026-12-05T14:03:00+00:00",
             "ended_at": "2026-12-05T14:04:00+00:00", "outcome": "the worker stopped responding"},
            {"attempt": 2, "worker": "celery@b", "started_at": "2026-12-05T14:05:00+00:00",
             "ended_at": None, "outcome": ""},
        ],
    )  # fmt: skip
    attempts = api_for("read").get(url(f"/jobs/{job.pk}")).json()["job"]["attempts"]
    assert [(a["attempt"], a["worker"], a["outcome"]) for a in attempts] == [
        (1, "celery@a", "the worker stopped responding"), (2, "celery@b", "")
    ]  # fmt: skip
    assert attempts[0]["started_at"].startswith("2026-12-05T14:03:00")
    assert attempts[0]["ended_at"].startswith("2026-12-05T14:04:00")
    assert attempts[1]["ended_at"] is None


def test_it_shows_no_server_path_in_a_jobs_summary_or_log(api_for, project, release_with_files):
    pg_dump = "/srv/portal/.venv/lib/python3.12/site-packages/bin/pg_dump"
    job = Job.objects.create(
        project=project, release=release_with_files, kind="backup", state="failed",
        summary=f"{pg_dump} failed", error=f"{pg_dump} exited 1",
    )  # fmt: skip
    JobLogLine.objects.create(job=job, seq=1, at=timezone.now(), text=f"running {pg_dump}")
    body = api_for("read").get(url(f"/jobs/{job.pk}")).json()
    assert body["job"]["summary"] == "pg_dump failed"
    assert body["job"]["error"] == "pg_dump exited 1"
    assert body["lines"][0]["text"] == "running pg_dump"
