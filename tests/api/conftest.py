"""Tokens, an API client that sends them, and releases at each point of their life."""

from __future__ import annotations

import json
from typing import Any

import pytest

from checklists.services.migrations import release_upload_archive
from checklists.services.releases import release_create
from migrations_ops.models import Incident, RollbackPlan, Target
from release_portal.api.tokens import token_create
from tests.factories import (
    DEMO_MIGRATIONS,
    TargetFactory,
    published_runbook,
    settle_checklist,
    sign_off,
    supabase_archive,
)

SHA = "a" * 40


class Api:
    """The Django test client with a bearer token (or none)."""

    def __init__(self, client: Any, value: str | None) -> None:
        self.client = client
        self.value = value

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        out = dict(headers or {})
        if self.value is not None:
            out.setdefault("Authorization", f"Bearer {self.value}")
        return out

    def get(self, url: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
        return self.client.get(url, params, headers=self._headers(headers))

    def post(self, url: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self.client.post(
            url, json.dumps(body if body is not None else {}), content_type="application/json",
            headers=self._headers(headers),
        )  # fmt: skip

    def patch(self, url: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self.client.patch(
            url, json.dumps(body if body is not None else {}), content_type="application/json",
            headers=self._headers(headers),
        )  # fmt: skip

    def upload(
        self, url: str, data: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> Any:
        return self.client.post(
            url, data, content_type=content_type, headers=self._headers(headers)
        )


@pytest.fixture
def make_token(project, platform_lead):
    def make(scopes=("read", "report", "deploy"), name="ci", *, for_project=None, lead=None):
        return token_create(
            project=for_project or project, name=name, scopes=list(scopes),
            user=lead or platform_lead,
        )  # fmt: skip

    return make


@pytest.fixture
def api_for(client, make_token):
    """api_for("read", "report") → an Api with a fresh token of those scopes."""
    counter = iter(range(1000))

    def make(*scopes: str, project=None, lead=None) -> Api:
        new = make_token(scopes or ("read", "report", "deploy"), f"ci-{next(counter)}",
                         for_project=project, lead=lead)  # fmt: skip
        api = Api(client, new.value)
        api.token = new.token  # type: ignore[attr-defined]
        return api

    return make


@pytest.fixture
def api(api_for) -> Api:
    return api_for("read", "report", "deploy")


@pytest.fixture
def runbook(project):
    return published_runbook(project)


@pytest.fixture
def targets(project):
    return {
        "staging": TargetFactory(project=project, name="staging", kind=Target.Kind.STAGING),
        "production": TargetFactory(
            project=project, name="production", kind=Target.Kind.PRODUCTION,
            url_env_var="PROD_DATABASE_URL",
        ),
    }  # fmt: skip


@pytest.fixture
def release(project, runbook, platform_lead, release_engineer, targets):
    return release_create(
        project=project, title="Members table", owner=platform_lead, commit_sha=SHA,
        created_by=release_engineer,
    )  # fmt: skip


@pytest.fixture
def release_with_files(release, release_engineer):
    release_upload_archive(
        release=release, data=supabase_archive(DEMO_MIGRATIONS), filename="supabase.zip",
        actor=release_engineer,
    )  # fmt: skip
    release.refresh_from_db()
    return release


@pytest.fixture
def approved_release(release_with_files, platform_lead, targets):
    settle_checklist(release_with_files, platform_lead)
    sign_off(release_with_files, platform_lead)
    release_with_files.refresh_from_db()
    assert release_with_files.state == "approved"
    return release_with_files


def url(path: str) -> str:
    return "/api" + path


def open_incident(release, target, sre, *, maintenance=True, plan=True):
    """An incident on ``release`` at ``target`` as an SRE leaves it before the rollback."""
    incident = Incident.objects.create(
        project=release.project, release=release, target=target, title="Checkout broke",
        trigger="failed_deployment", maintenance_mode=maintenance, opened_by=sre,
    )  # fmt: skip
    if plan:
        incident.plan = RollbackPlan.objects.create(
            project=release.project, release=release, target=target,
            steps=[{"kind": "down", "reverts": ["20250102000000"]}], created_by=sre,
        )  # fmt: skip
        incident.save(update_fields=["plan"])
    return incident
