"""Helpers every feature's views share: htmx requests, list pages, fragments, form
actions answered with a message, and the client's address behind the portal's proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_htmx.middleware import HtmxDetails

PAGE_SIZE = 25


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def paged(request: HttpRequest, rows: Any, size: int = PAGE_SIZE) -> dict[str, Any]:
    """``page`` of ``rows`` (the ``?page=`` asked for) and ``query``: the filters without
    the page number, for the pager's links."""
    query = request.GET.copy()
    query.pop("page", None)
    page = Paginator(rows, size).get_page(request.GET.get("page"))
    return {"page": page, "query": query.urlencode()}


def render_page(
    request: HtmxHttpRequest, template: str, fragment: str, context: dict[str, Any]
) -> HttpResponse:
    """The page, or only its ``{% partialdef fragment %}`` when htmx swaps it."""
    return render(request, f"{template}#{fragment}" if request.htmx else template, context)


def error_text(error: Exception) -> str:
    """What a refused action tells the person: a ValidationError's messages in one line,
    any other refusal's text."""
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(error)


def act[T](
    request: HttpRequest,
    action: Callable[[], T],
    *,
    done: str | Callable[[T], str],
    back: HttpResponse,
    level: int = messages.SUCCESS,
    refusals: tuple[type[Exception], ...] = (ValidationError,),
) -> HttpResponse:
    """Answer a plain form action: run ``action`` (one service call), then go ``back`` with
    ``done`` (or ``done(result)``) as a message at ``level``, or with why the service
    refused (one of ``refusals``) as an error message."""
    try:
        result = action()
    except refusals as e:
        messages.error(request, error_text(e))
    else:
        messages.add_message(request, level, done(result) if callable(done) else done)
    return back


def client_address(request: HttpRequest) -> str:
    """The address of the client that sent ``request``, as far as the portal can trust it.

    Behind ``PROXY_COUNT`` proxies each appends the address it received the request from
    to ``X-Forwarded-For``, so the client is the PROXY_COUNT-th entry from the right:
    whatever a client writes into the header itself stays further left. With fewer
    entries than proxies, every entry came from a proxy and the leftmost is the client.
    With ``PROXY_COUNT=0`` (the default) the header is ignored: anyone can send it.
    An entry that is not an IP address falls back to the connection's address.
    """
    remote = str(request.META.get("REMOTE_ADDR") or "")
    proxies = int(settings.PROXY_COUNT)
    if proxies <= 0:
        return remote
    entries = [e.strip() for e in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    entries = [e for e in entries if e]
    if not entries:
        return remote
    candidate = entries[-proxies] if len(entries) >= proxies else entries[0]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
