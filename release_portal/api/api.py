"""The JSON API for CI, mounted at /api/, with its OpenAPI schema and docs page.

Built with django-ninja. Bearer tokens only (see auth.py); every operation checks the
token's scope and project. django-ninja's own docs page is off: /api/docs is ours
(templates/api/docs.html), serving the vendored Swagger UI under the portal's CSP.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, URLResolver
from django.utils import timezone
from ninja import NinjaAPI

from release_portal.api import errors
from release_portal.api.auth import BearerToken
from release_portal.api.endpoints import analysis, deployments, gate, jobs, releases, reports
from release_portal.api.models import ApiToken
from release_portal.api.tokens import expiry_headers

DESCRIPTION = """
The Release Portal's API for CI pipelines: create the release of a commit, upload its
migrations, report CI results as evidence, ask the **gate** whether production may
deploy, and record deployments.

Authenticate with `Authorization: Bearer rp_…`, a token a platform lead creates on the
project's *API tokens* page, with the scopes `read`, `report` and/or `deploy`. A token
reaches its own project only: anything else is 404. Session cookies are ignored. Any job
on a production target needs `deploy` (a `report` token runs checks on staging only).
Tokens expire (90 days after creation by default; 7 days to 1 year, or never, as its
creator chose), and end when their creator stops being a platform lead of the project:
an expired or revoked token gets 401, and the error says which, when (why, when the
portal revoked it) and where a platform lead creates its successor.

Every answer made with a token that expires says when, so CI sees it coming:

- `X-Token-Expires-At`: its expiry, an RFC 3339 UTC time (`2027-03-06T14:03:00Z`);
- `X-Token-Expiry-Notice`: within its last 7 days only, a line for CI's log, e.g.
  `This API token (ci) expires on 2027-03-06 14:03 UTC: a platform lead of Shop creates a
  new one at /projects/shop/tokens/`.

A token that never expires gets neither, nor does a refused request (401).

Errors are `{"error": "...", "detail": ...}`. POST and PATCH accept an `Idempotency-Key`
header: a retry with the same key within 24 hours gets the first answer.
"""

api = NinjaAPI(
    title="Release Portal API",
    version="1",
    description=DESCRIPTION,
    auth=BearerToken(),
    urls_namespace="api",
    docs_url=None,
    openapi_url="/openapi.json",
)
errors.install(api)
for module in (releases, reports, gate, deployments, jobs, analysis):
    api.add_router("", module.router)


def _body_limit(request: HttpRequest) -> int:
    if request.path.endswith("/migrations"):
        return int(settings.API_MAX_UPLOAD_BYTES)
    return int(settings.API_MAX_BODY_BYTES)


def _json_error(response: HttpResponse) -> HttpResponse:
    """django-ninja's own 404 (the API root) and 405 answers, as JSON like every other error."""
    if response.status_code == 404:
        return JsonResponse({"error": "Not found: see /api/docs.", "detail": None}, status=404)
    allowed = [m.strip() for m in response.get("Allow", "").split(",") if m.strip()]
    json = JsonResponse(
        {
            "error": f"Method not allowed here: use {', '.join(allowed)}.",
            "detail": {"allowed": allowed},
        },
        status=405,
    )
    json["Allow"] = response.get("Allow", "")
    return json


def _guarded(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Refuse oversized bodies before anything reads them; mark replays; tell CI when its
    token expires (every endpoint, here once)."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"error": "Malformed Content-Length.", "detail": None}, status=400)
        limit = _body_limit(request)
        if length > limit:
            return JsonResponse(
                {
                    "error": f"The request body is {length} bytes; the limit here is {limit}.",
                    "detail": {"limit": limit},
                },
                status=413,
            )
        try:
            response = view(request, *args, **kwargs)
        except Http404:  # django-ninja's API root raises it
            response = HttpResponse(status=404)
        if response.status_code in (404, 405) and "json" not in response.get("Content-Type", ""):
            response = _json_error(response)
        if getattr(request, "idempotent_replay", False):
            response["Idempotent-Replayed"] = "true"
        # Set only once the token was accepted (django-ninja's request.auth): a 401 says
        # nothing about a token's expiry.
        token = getattr(request, "auth", None)
        if isinstance(token, ApiToken):
            for name, value in expiry_headers(token, timezone.now()).items():
                response[name] = value
        return response

    # Bearer tokens only: no session, so no CSRF; and no login redirect for CI.
    guarded.csrf_exempt = True  # type: ignore[attr-defined]
    guarded.login_required = False  # type: ignore[attr-defined]
    return guarded


def _wrap(patterns: list[URLPattern | URLResolver]) -> list[URLPattern | URLResolver]:
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            pattern.callback = _guarded(pattern.callback)
        else:
            _wrap(pattern.url_patterns)
    return patterns


def urls() -> tuple[list[URLPattern | URLResolver], str, str]:
    patterns, app_name, namespace = api.urls
    return _wrap(list(patterns)), app_name, namespace
