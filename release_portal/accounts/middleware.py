"""Signing in, for requests a page makes by itself.

Django's LoginRequiredMiddleware answers a visitor who is not signed in with a redirect
to the sign-in page. A browser follows that redirect inside an htmx request or a fetch
too: the page then received the sign-in page as the answer to a tick, and swapped it into
the checklist panel (the session had ended in another tab). Such requests get a 401 with
a message instead, which the page shows in place; a page navigation still goes to the
sign-in page.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import resolve_url

SIGNED_OUT_MESSAGE = (
    "Your session has ended (you signed out in another tab, or it expired): nothing was "
    "changed. Sign in again, then repeat what you did."
)
# Tells portal.js the answer is "sign in again": the sign-in page's address, which it links
# with the page the reader is on (not the refused action) as where to come back to.
SIGNED_OUT_HEADER = "X-Portal-Signed-Out"


def made_by_the_page(request: HttpRequest) -> bool:
    """An htmx request, or a script's fetch (the release page's poll and refresh):
    browsers mark both ``Sec-Fetch-Mode: cors``; a navigation is ``navigate``. The poll
    also asks for JSON, for browsers that send no Sec-Fetch headers."""
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        or "X-Portal-Refresh" in headers
        or headers.get("Sec-Fetch-Mode") in ("cors", "same-origin")
        or headers.get("Accept", "").startswith("application/json")
    )


class SignInRequiredMiddleware(LoginRequiredMiddleware):
    """LoginRequiredMiddleware, answering the page's own requests with a 401 it can show."""

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> HttpResponseBase | None:
        refused = super().process_view(request, view_func, view_args, view_kwargs)
        if refused is None or not made_by_the_page(request):
            return refused
        response = HttpResponse(
            SIGNED_OUT_MESSAGE, status=401, content_type="text/plain; charset=utf-8"
        )
        response[SIGNED_OUT_HEADER] = resolve_url(self.get_login_url(view_func))
        response["Cache-Control"] = "no-store"
        return response
