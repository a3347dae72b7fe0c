"""CI results, secret names and the pull request, reported as evidence."""

import json

import pytest

from checklists.models import Evidence, PeerReview
from checklists.services.migrations import release_upload_archive
from release_portal.audit.models import AuditEvent
from tests.api.conftest import SHA, url
from tests.factories import DEMO_MIGRATIONS, supabase_archive


def evidence_reported():
    """Evidence reported by jobs and CI (a new release already holds its runbook's lint)."""
    return Evidence.objects.exclude(kind="runbook_lint")


RUN = {
    "step": "staging-migrations-applied-successfully-ci",
    "kind": "ci_run",
    "status": "passed",
    "run_url": "https://github.com/acme/app/actions/runs/1",
    "commit_sha": SHA,
}


def evidence_url(release):
    return url(f"/releases/{release.pk}/evidence")


def test_it_attaches_a_ci_result_to_the_steps_item_without_ticking_it(api, release_with_files):
    response = api.post(evidence_url(release_with_files), RUN)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["step"] == "staging-migrations-applied-successfully-ci"
    assert body["item_state"] == "open"
    assert body["evidence"]["kind"] == "ci_run"
    assert body["evidence"]["status"] == "passed"
    assert body["evidence"]["current"] is True
    evidence = evidence_reported().get()
    assert evidence.item.step.key == "staging-migrations-applied-successfully-ci"
    assert evidence.url == RUN["run_url"]
    assert evidence.created_by_name == f"token:{api.token.name}"
    event = AuditEvent.objects.filter(action="evidence.add").latest("seq")
    assert (event.actor_kind, event.actor_name) == ("token", f"token:{api.token.name}")


def test_it_records_a_failed_run_as_failed_evidence(api, release_with_files):
    response = api.post(evidence_url(release_with_files), {**RUN, "status": "failed"})
    assert response.status_code == 201
    assert evidence_reported().get().status == "failed"


def test_it_refuses_a_result_for_another_commit(api, release_with_files):
    response = api.post(evidence_url(release_with_files), {**RUN, "commit_sha": "f" * 40})
    assert response.status_code == 409
    error = response.json()["error"]
    assert "ffffffffffff" in error and "aaaaaaaaaaaa" in error
    assert "move the release" in error
    assert not evidence_reported().exists()


def test_it_binds_a_ci_result_to_the_content_digest_it_names(api, release_with_files):
    stale = {**RUN, "content_digest": "e" * 64}
    response = api.post(evidence_url(release_with_files), stale)
    assert response.status_code == 409
    assert "run the check again for the current files" in response.json()["error"]
    assert not evidence_reported().exists()
    current = {**RUN, "content_digest": release_with_files.content_digest}
    assert api.post(evidence_url(release_with_files), current).status_code == 201
    assert evidence_reported().get().digest == release_with_files.content_digest


def test_it_asks_which_files_a_result_tested_once_they_changed_under_its_commit(
    api, release_with_files, release_engineer
):
    """Files uploaded again under the same commit: a result that names no content digest
    may have tested the files before (CI ran while they were replaced), so it is refused
    rather than taken as proof of files it never ran."""
    tested = release_with_files.content_digest
    replaced = {**DEMO_MIGRATIONS, "migrations/20250103000000_drop.sql": "drop table app.x;\n"}
    release_upload_archive(
        release=release_with_files, data=supabase_archive(replaced), filename="s.zip",
        actor=release_engineer,
    )  # fmt: skip
    release_with_files.refresh_from_db()
    assert release_with_files.commit_sha == SHA and release_with_files.content_digest != tested

    response = api.post(evidence_url(release_with_files), RUN)
    assert response.status_code == 409
    error = response.json()["error"]
    assert "content_digest" in error and release_with_files.content_digest[:12] in error
    assert not evidence_reported().exists()
    assert (
        api.post(evidence_url(release_with_files), {**RUN, "content_digest": tested}).status_code
        == 409
    )
    current = {**RUN, "content_digest": release_with_files.content_digest}
    assert api.post(evidence_url(release_with_files), current).status_code == 201


def test_it_lists_the_valid_steps_for_an_unknown_step(api, release_with_files):
    response = api.post(evidence_url(release_with_files), {**RUN, "step": "deploy-to-mars"})
    assert response.status_code == 422
    assert response.json()["detail"]["valid_steps"] == [
        "verify-secrets-supabase-access-token",
        "staging-migrations-applied-successfully-ci",
        "rls-docker-test-suite-passed",
    ]


def test_it_refuses_a_ci_result_for_a_step_that_takes_none(api, release_with_files):
    response = api.post(
        evidence_url(release_with_files), {**RUN, "step": "release-owner-sign-off-name"}
    )
    assert response.status_code == 422
    assert "does not take this report" in response.json()["error"]
    assert not evidence_reported().exists()


def test_it_makes_signoffs_stale_when_evidence_arrives(api, approved_release):
    response = api.post(
        evidence_url(approved_release), {**RUN, "step": "rls-docker-test-suite-passed"}
    )
    assert response.status_code == 201
    assert response.json()["stale_signoffs"] == 1
    assert response.json()["state"] == "ready"


def test_it_takes_secret_names_and_says_which_are_missing(api, release_with_files):
    response = api.post(evidence_url(release_with_files), {
        "step": "verify-secrets-supabase-access-token", "kind": "secrets",
        "names": ["SUPABASE_ACCESS_TOKEN", "SUPABASE_STAGING_PROJECT_REF"],
    })  # fmt: skip
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["missing_names"] == ["BACKUP_S3_ACCESS_KEY_ID", "BACKUP_S3_SECRET_ACCESS_KEY"]
    assert body["evidence"]["status"] == "failed"
    evidence = evidence_reported().get()
    assert evidence.kind == "secrets"
    assert evidence.data["names"] == ["SUPABASE_ACCESS_TOKEN", "SUPABASE_STAGING_PROJECT_REF"]


SECRET = "sbp_0123456789abcdefSECRETVALUE"


@pytest.mark.parametrize(
    "body",
    [
        {"names": ["SUPABASE_ACCESS_TOKEN"], "values": {"SUPABASE_ACCESS_TOKEN": SECRET}},
        {"names": [f"SUPABASE_ACCESS_TOKEN={SECRET}"]},
        {"names": [SECRET + " "]},
        {"names": {"SUPABASE_ACCESS_TOKEN": SECRET}},
    ],
)
def test_it_refuses_secret_values_and_never_echoes_or_stores_them(api, release_with_files, body):
    response = api.post(
        evidence_url(release_with_files),
        {"step": "verify-secrets-supabase-access-token", "kind": "secrets", **body},
    )
    assert response.status_code == 422
    assert SECRET not in response.content.decode()
    assert not evidence_reported().exists()
    assert not any(SECRET in json.dumps(e.data) for e in AuditEvent.objects.all())


def test_it_needs_the_report_scope_for_evidence(api_for, release_with_files):
    for scopes in [("read",), ("deploy",)]:
        assert api_for(*scopes).post(evidence_url(release_with_files), RUN).status_code == 403
    assert not evidence_reported().exists()


def test_it_records_the_pull_request_as_peer_review(api, release_with_files):
    response = api.post(url(f"/releases/{release_with_files.pk}/pull-request"), {
        "url": "https://github.com/acme/app/pull/7", "approvals": 2,
        "template_checklist_complete": True, "commit_sha": SHA,
    })  # fmt: skip
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["peer_review"]["complete"] is True
    assert body["attached_to"] == []  # the default runbook names no ci:pull_request step
    review = PeerReview.objects.get()
    assert review.reported_by_name == f"token:{api.token.name}"
    assert AuditEvent.objects.filter(action="release.pull_request").count() == 1
    read = api.get(url(f"/releases/{release_with_files.pk}")).json()
    assert read["peer_review"]["url"] == "https://github.com/acme/app/pull/7"


def test_it_attaches_the_pull_request_to_a_step_that_asks_for_it(api, release_with_files):
    from checklists.models import RunbookStep

    RunbookStep.objects.filter(key="runbook-review-completed-no-steps").update(
        evidence_kinds=["runbook_lint", "ci:pull_request"]
    )
    response = api.post(url(f"/releases/{release_with_files.pk}/pull-request"), {
        "url": "https://github.com/acme/app/pull/7", "approvals": 0,
        "template_checklist_complete": True, "commit_sha": SHA,
    })  # fmt: skip
    assert response.json()["attached_to"] == ["runbook-review-completed-no-steps"]
    evidence = evidence_reported().get(kind="pull_request")
    assert evidence.status == "failed"  # no approval yet


def test_it_finds_the_step_by_the_evidence_kind_it_takes(api, release_with_files):
    body = {**RUN, "step": "ci:rls_docker"}
    response = api.post(evidence_url(release_with_files), body)
    assert response.status_code == 201, response.content
    assert response.json()["steps"] == ["rls-docker-test-suite-passed"]
    assert evidence_reported().get().item.step.key == "rls-docker-test-suite-passed"
    unknown = api.post(evidence_url(release_with_files), {**RUN, "step": "ci:nothing"})
    assert unknown.status_code == 422


PR = {
    "url": "https://github.com/acme/app/pull/7", "approvals": 2,
    "template_checklist_complete": True, "commit_sha": SHA,
}  # fmt: skip


@pytest.fixture
def pr_step(release_with_files):
    """A step that takes the pull request as evidence and requires it (the gate's proof)."""
    from checklists.models import RunbookStep

    RunbookStep.objects.filter(key="runbook-review-completed-no-steps").update(
        evidence_kinds=["ci:pull_request"], requires_evidence=True
    )
    return release_with_files.items.get(step__key="runbook-review-completed-no-steps")


def pr_url(release):
    return url(f"/releases/{release.pk}/pull-request")


def test_it_asks_which_commit_a_pull_request_was_reported_for(api, release_with_files):
    """A PR report named no commit: one found for any commit (an older pipeline's, a
    branch's) became peer-review proof for whatever the release held when it arrived."""
    without = {k: v for k, v in PR.items() if k != "commit_sha"}
    response = api.post(pr_url(release_with_files), without)
    assert response.status_code == 422
    assert response.json()["error"] == (
        "The request does not match the schema: send `commit_sha` (see /api/docs)."
    )
    assert not PeerReview.objects.exists() and not evidence_reported().exists()


def test_it_refuses_a_pull_request_of_another_commit(api, release_with_files, pr_step):
    response = api.post(pr_url(release_with_files), {**PR, "commit_sha": "f" * 40})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error.startswith("This pull request report is for commit ffffffffffff, but the "
                            "release is at aaaaaaaaaaaa")  # fmt: skip
    assert "move the release" in error
    assert not PeerReview.objects.exists() and not evidence_reported().exists()


def test_it_binds_a_pull_request_to_its_commit_and_content(api, release_with_files, pr_step):
    from checklists.proof import check_item

    stale = api.post(pr_url(release_with_files), {**PR, "content_digest": "e" * 64})
    assert stale.status_code == 409
    assert "report it again for the current files" in stale.json()["error"]
    response = api.post(
        pr_url(release_with_files), {**PR, "content_digest": release_with_files.content_digest}
    )
    assert response.status_code == 201, response.content
    assert response.json()["attached_to"] == ["runbook-review-completed-no-steps"]
    review = response.json()["peer_review"]
    assert (review["commit_sha"], review["current"]) == (SHA, True)
    evidence = evidence_reported().get(kind="pull_request")
    assert (evidence.commit_sha, evidence.digest) == (SHA, release_with_files.content_digest)
    assert check_item(pr_step).status == "passed"


def test_a_pull_request_proves_nothing_once_the_release_moves_to_another_commit(
    api, release_with_files, pr_step, release_engineer
):
    from checklists.proof import check_item

    assert api.post(pr_url(release_with_files), PR).status_code == 201
    release_upload_archive(
        release=release_with_files, data=supabase_archive(DEMO_MIGRATIONS), filename="s.zip",
        actor=release_engineer, commit_sha="b" * 40,
    )  # fmt: skip
    pr_step.release.refresh_from_db()
    assert check_item(pr_step).status == "missing"
    read = api.get(url(f"/releases/{release_with_files.pk}")).json()
    assert read["peer_review"]["commit_sha"] == SHA and read["peer_review"]["current"] is False
    gate = api.get(url(f"/releases/{release_with_files.pk}/gate")).json()
    assert gate["peer_review"]["current"] is False
    # The old commit's review is refused for the new commit; the new one's is taken.
    assert api.post(pr_url(release_with_files), PR).status_code == 409
    assert api.post(pr_url(release_with_files), {**PR, "commit_sha": "b" * 40}).status_code == 201
    pr_step.release.refresh_from_db()
    assert check_item(pr_step).status == "passed"


def test_it_asks_which_files_a_pull_request_saw_once_they_changed_under_its_commit(
    api, release_with_files, pr_step, release_engineer
):
    replaced = {**DEMO_MIGRATIONS, "migrations/20250103000000_drop.sql": "drop table app.x;\n"}
    release_upload_archive(
        release=release_with_files, data=supabase_archive(replaced), filename="s.zip",
        actor=release_engineer,
    )  # fmt: skip
    release_with_files.refresh_from_db()
    response = api.post(pr_url(release_with_files), PR)
    assert response.status_code == 409
    assert "content_digest" in response.json()["error"]
    current = {**PR, "content_digest": release_with_files.content_digest}
    assert api.post(pr_url(release_with_files), current).status_code == 201


def test_a_pull_request_reported_without_a_commit_proves_nothing(
    api, release_with_files, pr_step, platform_lead
):
    """Reports stored before they named their commit (blank commit_sha) count for none."""
    from checklists.models import Evidence
    from checklists.proof import check_item
    from checklists.services.items import evidence_add

    pr_step.release = release_with_files
    evidence_add(item=pr_step, actor=platform_lead, kind=Evidence.Kind.PULL_REQUEST,
                 status=Evidence.Status.PASSED, summary="PR", url=PR["url"])  # fmt: skip
    assert check_item(pr_step).status == "missing"
