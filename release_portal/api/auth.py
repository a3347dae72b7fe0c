"""Bearer tokens only, and what a token may reach: its project, within its scopes.

The API never looks at the session cookie: a browser signed in to the portal cannot
call it (so there is no CSRF to forge), and every change is made and audited under the
token's name.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from checklists.models import Release
from migrations_ops.models import Job, Project, Target
from release_portal.api.errors import ApiError
from release_portal.api.models import ApiToken
from release_portal.api.tokens import token_authenticate, token_refusal


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        found = token_authenticate(token)
        if found is None:
            # The 401's message (errors.on_auth) says why when the portal knows it.
            request.auth_refusal = token_refusal(token)  # type: ignore[attr-defined]
        return found


def token_of(request: HttpRequest) -> ApiToken:
    token = getattr(request, "auth", None)
    assert isinstance(token, ApiToken), "endpoint without BearerToken auth"
    return token


def require_scope(
    request: HttpRequest, *scopes: str, because: str = "", detail: dict[str, Any] | None = None
) -> ApiToken:
    """The request's token, if it holds one of ``scopes`` (else 403, saying ``because``
    when the need depends on more than the endpoint, e.g. the target)."""
    token = token_of(request)
    if not token.has_scope(*scopes):
        why = f", which {because}" if because else ""
        raise ApiError(
            403,
            f"This token lacks the {' or '.join(scopes)} scope{why}: a platform lead creates "
            "a token with it on the project's API tokens page.",
            {"required": list(scopes), "token_scopes": list(token.scopes), **(detail or {})},
        )
    return token


def project_for(token: ApiToken, slug: str) -> Project:
    """The token's own project; any other slug is 404, as if it did not exist."""
    if token.project.slug != slug:
        raise ApiError(404, f"No project {slug[:60]!r} for this token.")
    return token.project


def release_for(token: ApiToken, release_id: int, *, for_update: bool = False) -> Release:
    """A release of the token's project (404 for any other, without saying it exists)."""
    queryset = Release.objects.select_related("project", "owner", "runbook_version")
    if for_update:
        queryset = queryset.select_for_update(of=("self",))
    release = queryset.filter(pk=release_id, project_id=token.project_id).first()
    if release is None:
        raise ApiError(404, f"No release #{release_id} in {token.project.slug}.")
    return release


def target_for(token: ApiToken, name: str) -> Target:
    target = Target.objects.filter(project_id=token.project_id, name=name).first()
    if target is None:
        names = list(
            Target.objects.filter(project_id=token.project_id).values_list("name", flat=True)
        )
        raise ApiError(404, f"No target {name[:60]!r} in {token.project.slug}.", {"targets": names})
    return target


def job_for(token: ApiToken, job_id: int) -> Job:
    job = Job.objects.filter(pk=job_id, project_id=token.project_id).first()
    if job is None:
        raise ApiError(404, f"No job #{job_id} in {token.project.slug}.")
    return job


def only(value: Any, allowed: list[str], what: str) -> None:
    if value not in allowed:
        raise ApiError(422, f"Unknown {what} {str(value)[:60]!r}.", {"allowed": allowed})
