"""Creating (idempotently), listing and reading releases through the API."""

import pytest

from checklists.models import Release
from release_portal.audit.models import AuditEvent
from tests.api.conftest import SHA, url

NEW = {"title": "Add members", "commit_sha": "B" * 40, "owner": "lead"}


def create_url(project):
    return url(f"/projects/{project.slug}/releases")


def test_it_creates_a_release_for_a_commit_under_the_tokens_name(
    api, project, runbook, platform_lead
):
    response = api.post(create_url(project), NEW)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["created"] is True
    assert body["commit_sha"] == "b" * 40
    assert body["owner"] == "lead"
    release = Release.objects.get(pk=body["id"])
    assert release.items.count() == 13
    assert release.created_by is None
    event = AuditEvent.objects.get(action="release.create")
    assert (event.actor_kind, event.actor_name) == ("token", f"token:{api.token.name}")
    assert event.actor_id == api.token.pk


def test_it_answers_the_existing_release_for_the_same_commit(api, project, runbook, platform_lead):
    first = api.post(create_url(project), NEW)
    second = api.post(create_url(project), {**NEW, "title": "Another title"})
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["created"] is False
    assert Release.objects.count() == 1
    assert AuditEvent.objects.filter(action="release.create").count() == 1


def test_it_creates_a_new_release_when_the_commits_release_was_cancelled(
    api, project, release, platform_lead
):
    from checklists.services.releases import release_cancel

    release_cancel(release=release, user=platform_lead, reason="wrong branch")
    response = api.post(create_url(project), {**NEW, "commit_sha": SHA})
    assert response.status_code == 201
    assert response.json()["id"] != release.pk


@pytest.mark.parametrize(
    "scopes,status", [(("report",), 201), (("deploy",), 201), (("read",), 403)]
)
def test_it_needs_report_or_deploy_to_create(
    api_for, project, runbook, platform_lead, scopes, status
):
    response = api_for(*scopes).post(create_url(project), NEW)
    assert response.status_code == status
    if status == 403:
        assert "report or deploy" in response.json()["error"]
        assert not Release.objects.exists()


def test_it_answers_404_for_another_projects_slug(api, other_project, runbook, platform_lead):
    response = api.post(create_url(other_project), NEW)
    assert response.status_code == 404
    assert not Release.objects.exists()


def test_it_refuses_an_auditor_as_owner_in_the_domains_words(api, project, runbook, auditor):
    response = api.post(create_url(project), {**NEW, "owner": "auditor"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert "is not a platform lead or release engineer" in error
    assert not project.releases.exists()


def test_it_refuses_an_owner_who_is_not_a_member(api, project, runbook, outsider):
    response = api.post(create_url(project), {**NEW, "owner": "outsider"})
    assert response.status_code == 422
    assert "not a member" in response.json()["error"]


def test_it_names_an_unknown_owner_and_who_may_own_a_release(
    api, project, runbook, platform_lead, release_engineer, auditor
):
    # An account that does not exist read "Nobody is not a member of …", never naming
    # what CI sent; the refusal names it, and lists who may own the release.
    response = api.post(create_url(project), {**NEW, "owner": "alice"})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == (
        f"No active account is named 'alice': name a platform lead or release engineer of "
        f"{project} as the release's owner, by username."
    )
    owners = [platform_lead.username, release_engineer.username]
    assert body["detail"] == {"owners": sorted(owners)}
    auditor_owner = api.post(create_url(project), {**NEW, "owner": auditor.username}).json()
    assert auditor_owner["detail"] == {"owners": sorted(owners)}
    assert not project.releases.exists()


def test_it_refuses_unknown_fields_and_bad_values(api, project, runbook, platform_lead):
    unknown = api.post(create_url(project), {**NEW, "colour": "blue"})
    assert unknown.status_code == 422
    assert unknown.json()["error"] == "The request does not match the schema."
    assert any(e["type"] == "extra_forbidden" for e in unknown.json()["detail"])
    short_sha = api.post(create_url(project), {**NEW, "commit_sha": "abc"})
    assert short_sha.status_code == 422
    assert not Release.objects.exists()


def test_it_answers_400_to_a_body_that_is_not_json(api, project, runbook):
    response = api.client.post(
        create_url(project), "{not json", content_type="application/json",
        headers={"Authorization": f"Bearer {api.value}"},
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["error"].startswith("Malformed request")


def test_it_lists_and_reads_releases_with_the_read_scope(api_for, project, release_with_files):
    api = api_for("read")
    listed = api.get(create_url(project))
    assert listed.status_code == 200
    assert [r["id"] for r in listed.json()] == [release_with_files.pk]
    assert api.get(create_url(project), commit_sha="c" * 40).json() == []
    read = api.get(url(f"/releases/{release_with_files.pk}"))
    assert read.status_code == 200
    body = read.json()
    assert [i["step"] for i in body["items"]][:2] == [
        "confirm-supabase-migrations-order-chronological",
        "run-pnpm-lint-typecheck-test",
    ]
    assert {f["filename"] for f in body["files"]} == {
        "20250101000000_create_app.sql",
        "20250102000000_members.sql",
    }
    assert body["signoffs"] == [] and body["jobs"] == [] and body["deployments"] == []
    assert body["required_signoffs"] == ["release_owner"]


def test_it_refuses_reads_without_the_read_scope(api_for, project, release):
    api = api_for("report", "deploy")
    assert api.get(create_url(project)).status_code == 403
    assert api.get(url(f"/releases/{release.pk}")).status_code == 403


def test_it_hides_releases_of_other_projects(api_for, release, other_project, outsider):
    foreign = api_for("read", "report", "deploy", project=other_project, lead=outsider)
    for path in ["", "/gate"]:
        response = foreign.get(url(f"/releases/{release.pk}{path}"))
        assert response.status_code == 404, path
        assert "No release" in response.json()["error"]
    assert foreign.post(url(f"/releases/{release.pk}/evidence"), {
        "step": "staging-migrations-applied-successfully-ci", "kind": "ci_run", "status": "passed",
        "run_url": "https://ci.example.com/1", "commit_sha": SHA,
    }).status_code == 404  # fmt: skip


def test_it_reads_stale_and_current_signoffs(api, approved_release, release_engineer):
    from checklists.services.migrations import release_upload_archive
    from tests.factories import DEMO_MIGRATIONS, supabase_archive

    body = api.get(url(f"/releases/{approved_release.pk}")).json()
    assert [(s["kind"], s["current"]) for s in body["signoffs"]] == [("release_owner", True)]
    files = {**DEMO_MIGRATIONS, "migrations/20250103000000_more.sql": "select 1;\n"}
    release_upload_archive(
        release=approved_release, data=supabase_archive(files), filename="s.zip",
        actor=release_engineer,
    )  # fmt: skip
    body = api.get(url(f"/releases/{approved_release.pk}")).json()
    assert [(s["kind"], s["current"]) for s in body["signoffs"]] == [("release_owner", False)]
    assert body["signoffs"][0]["stale_reason"]
