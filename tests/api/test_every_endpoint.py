"""Every API operation, from the outside: another project's token gets 404 and changes
nothing, a token without the operation's scope gets 403, a revoked or expired token 401.

The table below must name every operation of the schema, so a new endpoint is in these
tests from the day it is added.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from checklists.models import Deployment, Evidence, PeerReview, Release
from migrations_ops.models import Job
from release_portal.api.api import api as ninja_api
from release_portal.api.models import ApiToken
from release_portal.audit.models import AuditEvent
from tests.api.conftest import SHA, Api
from tests.factories import DEMO_MIGRATIONS, supabase_archive

ALL = ("read", "report", "deploy")

# (method, path in the schema) -> the scopes any one of which lets a token call it.
OPERATIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("POST", "/api/projects/{slug}/releases"): ("report", "deploy"),
    ("GET", "/api/projects/{slug}/releases"): ("read",),
    ("GET", "/api/releases/{release_id}"): ("read",),
    ("POST", "/api/releases/{release_id}/migrations"): ("report",),
    ("POST", "/api/releases/{release_id}/evidence"): ("report",),
    ("POST", "/api/releases/{release_id}/pull-request"): ("report",),
    ("GET", "/api/releases/{release_id}/gate"): ("read", "deploy"),
    ("GET", "/api/releases/{release_id}/waivers"): ("read",),
    ("POST", "/api/releases/{release_id}/deployments"): ("deploy",),
    ("PATCH", "/api/releases/{release_id}/deployments/{deployment_id}"): ("deploy",),
    ("POST", "/api/releases/{release_id}/deployments/{deployment_id}"): ("deploy",),
    ("POST", "/api/releases/{release_id}/jobs"): ("report",),
    ("GET", "/api/jobs/{job_id}"): ("read",),
    ("GET", "/api/releases/{release_id}/analysis"): ("read",),
}


def schema_operations() -> set[tuple[str, str]]:
    paths = ninja_api.get_openapi_schema(path_prefix="/api/")["paths"]
    return {(method.upper(), path) for path, ops in paths.items() for method in ops}


def test_the_table_names_every_operation_of_the_schema():
    assert set(OPERATIONS) == schema_operations()


@pytest.fixture
def world(release_with_files, targets, project):
    """This project's release, with a job and a started staging deployment to point at."""
    job = Job.objects.create(project=project, release=release_with_files, kind="order")
    deployment = Deployment.objects.create(
        release=release_with_files, target=targets["staging"], digest="0" * 64,
        started_by_name="token:ci",
    )  # fmt: skip
    return {
        "slug": project.slug,
        "release_id": release_with_files.pk,
        "job_id": job.pk,
        "deployment_id": deployment.pk,
    }


def call(api: Api, method: str, path: str, ids: dict[str, Any]) -> Any:
    """One request to the operation, with a body that would be accepted by its owner."""
    url = path.format(**ids)
    bodies: dict[str, Any] = {
        "/releases": {"title": "t", "commit_sha": "c" * 40, "owner": "lead"},
        "/evidence": {"step": "ci:staging_apply", "kind": "ci_run", "status": "passed",
                      "run_url": "https://ci.example.com/1", "commit_sha": SHA},
        "/pull-request": {"url": "https://github.com/acme/app/pull/7", "approvals": 1,
                          "template_checklist_complete": True, "commit_sha": SHA},
        "/deployments": {"target": "staging", "status": "started"},
        "/jobs": {"kind": "order", "target": "staging"},
        "}": {"status": "succeeded"},  # a deployment's end
    }  # fmt: skip
    if method == "GET":
        return api.get(url)
    if path.endswith("/migrations"):
        return api.upload(url, supabase_archive(DEMO_MIGRATIONS), "application/zip")
    body = next(b for end, b in bodies.items() if path.endswith(end))
    return api.patch(url, body) if method == "PATCH" else api.post(url, body)


def writes() -> tuple[int, ...]:
    return (
        AuditEvent.objects.count(),
        Release.objects.count(),
        Evidence.objects.count(),
        PeerReview.objects.count(),
        Job.objects.count(),
        Deployment.objects.count(),
    )


@pytest.mark.parametrize("operation", sorted(OPERATIONS), ids=" ".join)
def test_another_projects_token_gets_404_and_changes_nothing(
    api_for, other_project, outsider, world, release_with_files, operation
):
    foreign = api_for(*ALL, project=other_project, lead=outsider)
    before = writes()
    response = call(foreign, *operation, world)
    assert response.status_code == 404, (operation, response.content)
    assert set(response.json()) == {"error", "detail"}
    # Nothing of this project's release is told: not its title, commit or files.
    text = response.content.decode()
    assert release_with_files.title not in text and SHA not in text
    assert writes() == before


@pytest.mark.parametrize("operation", sorted(OPERATIONS), ids=" ".join)
def test_a_token_without_the_operations_scope_gets_403_and_changes_nothing(
    api_for, world, operation
):
    lacking = [s for s in ALL if s not in OPERATIONS[operation]]
    api = api_for(*lacking)
    before = writes()
    response = call(api, *operation, world)
    assert response.status_code == 403, (operation, response.content)
    assert response.json()["detail"]["token_scopes"] == sorted(lacking)
    assert writes() == before


@pytest.mark.parametrize("operation", sorted(OPERATIONS), ids=" ".join)
def test_a_token_with_the_operations_scope_is_let_through(api_for, world, operation):
    """The other side of the 403s above: the scope the table names is enough (the answer
    may still refuse what the release's state does not allow, but not for want of scope)."""
    response = call(api_for(*OPERATIONS[operation]), *operation, world)
    assert response.status_code not in (401, 403, 404), (operation, response.content)


@pytest.mark.parametrize("how", ["revoked", "expired"])
@pytest.mark.parametrize("operation", sorted(OPERATIONS), ids=" ".join)
def test_a_revoked_or_expired_token_gets_401_everywhere(api_for, world, operation, how):
    api = api_for(*ALL)
    change = (
        {"revoked_at": timezone.now()}
        if how == "revoked"
        else {"expires_at": timezone.now() - timedelta(seconds=1)}
    )
    ApiToken.objects.filter(pk=api.token.pk).update(**change)
    before = writes()
    response = call(api, *operation, world)
    assert response.status_code == 401, (operation, response.content)
    assert how in response.json()["error"]
    assert api.value.split("_", 2)[2] not in response.content.decode()
    assert writes() == before
