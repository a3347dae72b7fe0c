"""The API's docs page (Swagger UI, vendored) and its JSON 404."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET


@require_GET
@login_not_required
def docs(request: HttpRequest) -> HttpResponse:
    """Swagger UI from static/vendor/, started by static/js/api-docs.js: no inline script."""
    return render(
        request, "release_portal/api/docs.html", {"openapi_url": reverse("api:openapi-json")}
    )


@login_not_required
def not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    return JsonResponse(
        {"error": f"No API endpoint at {request.path[:200]}: see /api/docs.", "detail": None},
        status=404,
    )
