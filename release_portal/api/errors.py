"""Every API error is JSON ``{"error": "...", "detail": ...}`` with the right 4xx."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from checklists.bundles import ArchiveUnreadable, BundleError
from release_portal.http import error_text

if TYPE_CHECKING:
    from ninja import NinjaAPI


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: Any = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = detail


def not_found(what: str = "Not found.") -> ApiError:
    return ApiError(404, what)


def schema_error(errors: list[dict[str, Any]]) -> str:
    """The 422's sentence: which required fields to send, when some are missing (a CI log
    shows `error`, rarely `detail`). Only missing fields are named: they are the schema's
    own names, never a key the client sent (which could hold anything)."""
    missing = list(
        dict.fromkeys(
            str(e["loc"][-1]) for e in errors if e.get("type") == "missing" and e.get("loc")
        )
    )
    if not missing:
        return "The request does not match the schema."
    return (
        "The request does not match the schema: send "
        + ", ".join(f"`{name}`" for name in missing[:5])
        + " (see /api/docs)."
    )


def install(api: NinjaAPI) -> None:
    """Replace django-ninja's default error answers with ours."""

    def respond(request: HttpRequest, status: int, error: str, detail: Any = None) -> HttpResponse:
        return api.create_response(request, {"error": error, "detail": detail}, status=status)

    def on_api_error(request: HttpRequest, exc: Any) -> HttpResponse:
        return respond(request, exc.status, exc.error, exc.detail)

    def on_auth(request: HttpRequest, exc: Any) -> HttpResponse:
        response = respond(
            request,
            401,
            getattr(request, "auth_refusal", None)
            or "A valid API token is required: send `Authorization: Bearer rp_…` with a live "
            "token of the project (a platform lead creates one on the project's API tokens page).",
        )
        response["WWW-Authenticate"] = 'Bearer realm="release-portal"'
        return response

    def on_validation(request: HttpRequest, exc: Any) -> HttpResponse:
        # django-ninja already drops the offending input from each error, so a secret
        # pasted into the wrong field is never echoed back.
        return respond(request, 422, schema_error(exc.errors), exc.errors)

    def on_http_error(request: HttpRequest, exc: Any) -> HttpResponse:
        if exc.status_code == 400:
            return respond(request, 400, "Malformed request: the body is not valid JSON.")
        return respond(request, exc.status_code, str(exc.message))

    def on_404(request: HttpRequest, exc: Any) -> HttpResponse:
        return respond(request, 404, str(exc) or "Not found.")

    def on_forbidden(request: HttpRequest, exc: Any) -> HttpResponse:
        return respond(request, 403, str(exc) or "Forbidden.")

    def on_bundle(request: HttpRequest, exc: Any) -> HttpResponse:
        # Bytes that are no archive are malformed (400); an archive whose content is
        # refused (a limit, a name, a link) is a validation error (422).
        status = 400 if isinstance(exc, ArchiveUnreadable) else 422
        return respond(request, status, f"The archive cannot be used: {exc}")

    def on_django_validation(request: HttpRequest, exc: Any) -> HttpResponse:
        # Services' refusals (ChecklistError and the like) that an endpoint did not map:
        # the request was understood but conflicts with the release as it is.
        return respond(request, 409, error_text(exc))

    api.add_exception_handler(ApiError, on_api_error)
    api.add_exception_handler(AuthenticationError, on_auth)
    api.add_exception_handler(NinjaValidationError, on_validation)
    api.add_exception_handler(HttpError, on_http_error)
    api.add_exception_handler(Http404, on_404)
    api.add_exception_handler(PermissionDenied, on_forbidden)
    api.add_exception_handler(BundleError, on_bundle)
    api.add_exception_handler(ValidationError, on_django_validation)
