"""Idempotency-Key: a retry gets the first answer and records nothing twice."""

from datetime import timedelta

from django.utils import timezone

from checklists.models import Deployment, Evidence, Release
from release_portal.api.idempotency import purge_expired
from release_portal.api.models import IdempotencyRecord
from release_portal.audit.models import AuditEvent
from tests.api.conftest import SHA, url


def evidence_reported():
    """Evidence reported by jobs and CI (a new release already holds its runbook's lint)."""
    return Evidence.objects.exclude(kind="runbook_lint")


KEY = {"Idempotency-Key": "3f0c2f8e-run-42"}
RUN = {
    "step": "staging-migrations-applied-successfully-ci", "kind": "ci_run", "status": "passed",
    "run_url": "https://ci.example.com/runs/42", "commit_sha": SHA,
}  # fmt: skip


def test_it_replays_the_first_answer_for_a_retry(api, release_with_files):
    first = api.post(url(f"/releases/{release_with_files.pk}/evidence"), RUN, headers=KEY)
    events = AuditEvent.objects.count()
    retry = api.post(url(f"/releases/{release_with_files.pk}/evidence"), RUN, headers=KEY)
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert evidence_reported().count() == 1
    assert AuditEvent.objects.count() == events


def test_it_refuses_the_same_key_for_a_different_request(api, release_with_files):
    api.post(url(f"/releases/{release_with_files.pk}/evidence"), RUN, headers=KEY)
    other = api.post(
        url(f"/releases/{release_with_files.pk}/evidence"), {**RUN, "status": "failed"}, headers=KEY
    )
    assert other.status_code == 422
    assert "different request" in other.json()["error"]
    elsewhere = api.post(url(f"/releases/{release_with_files.pk}/pull-request"), {
        "url": "https://github.com/acme/app/pull/1", "approvals": 1,
        "template_checklist_complete": True, "commit_sha": SHA,
    }, headers=KEY)  # fmt: skip
    assert elsewhere.status_code == 422
    assert evidence_reported().count() == 1


def test_it_runs_again_after_a_refusal(api, release_with_files):
    wrong = api.post(
        url(f"/releases/{release_with_files.pk}/evidence"),
        {**RUN, "commit_sha": "f" * 40},
        headers=KEY,
    )
    assert wrong.status_code == 409
    assert not IdempotencyRecord.objects.exists()
    right = api.post(url(f"/releases/{release_with_files.pk}/evidence"), RUN, headers=KEY)
    assert right.status_code == 201


def test_it_keeps_keys_apart_per_token(api_for, release_with_files):
    one, two = api_for("report", "read"), api_for("report", "read")
    one.post(url(f"/releases/{release_with_files.pk}/evidence"), RUN, headers=KEY)
    two.post(url(f"/releases/{release_with_files.pk}/evidence"), RUN, headers=KEY)
    assert evidence_reported().count() == 2


def test_it_forgets_answers_after_a_day(api, release_with_files):
    api.post(url(f"/releases/{release_with_files.pk}/evidence"), RUN, headers=KEY)
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    again = api.post(url(f"/releases/{release_with_files.pk}/evidence"), RUN, headers=KEY)
    assert again.status_code == 201 and "Idempotent-Replayed" not in again
    assert evidence_reported().count() == 2
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert purge_expired() == 1


def test_it_replays_a_created_release_and_a_started_deployment(api, project, approved_release):
    new = {"title": "X", "commit_sha": "e" * 40, "owner": "lead"}
    created = api.post(url(f"/projects/{project.slug}/releases"), new, headers=KEY)
    again = api.post(url(f"/projects/{project.slug}/releases"), new, headers=KEY)
    assert again.status_code == 201 and again.json() == created.json()
    assert Release.objects.filter(commit_sha="e" * 40).count() == 1
    body = {"target": "production", "status": "started", "digest": approved_release.digest}
    key = {"Idempotency-Key": "deploy-1"}
    first = api.post(url(f"/releases/{approved_release.pk}/deployments"), body, headers=key)
    retry = api.post(url(f"/releases/{approved_release.pk}/deployments"), body, headers=key)
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json()["id"] == first.json()["id"]
    assert Deployment.objects.count() == 1


def test_it_refuses_an_unusable_key(api, release_with_files):
    response = api.post(
        url(f"/releases/{release_with_files.pk}/evidence"),
        RUN,
        headers={"Idempotency-Key": "k" * 201},
    )
    assert response.status_code == 400
    assert not evidence_reported().exists()
