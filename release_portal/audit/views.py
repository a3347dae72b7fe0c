"""The change-log page, its chain check and its exports."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from release_portal.accounts.roles import Action, can, visible_project_ids
from release_portal.audit import exports
from release_portal.audit.chain import VerifyResult
from release_portal.audit.forms import AuditFilterForm
from release_portal.audit.selectors import (
    audit_events_for,
    audit_head,
    audit_page,
    project_names,
)
from release_portal.audit.services import audit_export_record
from release_portal.audit.verify import audit_verify
from release_portal.http import HtmxHttpRequest

HASH_RE = re.compile(r"^[0-9a-f]{64}$")


def _my_projects(user: Any) -> list[Any]:
    from migrations_ops.models import Project

    return list(Project.objects.filter(pk__in=visible_project_ids(user)).only("pk", "name"))


def _exportable_ids(user: Any) -> list[int]:
    return [pid for pid in visible_project_ids(user) if can(user, Action.EXPORT_AUDIT, pid)]


def _log_context(request: HttpRequest, form: AuditFilterForm, projects: list[Any]) -> dict:
    user = request.user
    exportable = _exportable_ids(user)
    context: dict[str, Any] = {
        "form": form,
        "head": audit_head(),
        "page": None,
        "can_verify": bool(exportable),
        "can_export": False,
        "verify": None,
    }
    if not form.is_valid():
        return context
    names = project_names(projects)
    events = audit_events_for(project_ids=names, filters=form.cleaned_data)
    page = audit_page(
        events,
        projects=names,
        before=form.cleaned_data["before"],
        after=form.cleaned_data["after"],
    )
    query = form.filter_values()
    base = reverse("audit_log")

    def url(**extra: Any) -> str:
        params = urlencode({**query, **extra})
        return f"{base}?{params}" if params else base

    filter_query = urlencode(query)
    context.update(
        page=page,
        newest_url=url(),
        older_url=url(before=page.older) if page.older else "",
        newer_url=url(after=page.newer) if page.newer else "",
        export_query=f"?{filter_query}" if filter_query else "",
        # Only offer exports the person may take: their own projects' EXPORT_AUDIT.
        can_export=bool(exportable)
        and (query.get("project") is None or query["project"] in exportable),
    )
    return context


@require_GET
def audit_log(request: HtmxHttpRequest) -> HttpResponse:
    """Events of the person's projects, newest first, filtered, 50 a page (keyset on seq)."""
    projects = _my_projects(request.user)
    form = AuditFilterForm(request.GET, projects=projects)
    context = _log_context(request, form, projects)
    if request.htmx and not request.htmx.history_restore_request:
        # htmx does not swap 4xx answers: a form error comes back as a 200 fragment.
        return render(request, "audit/log.html#events", context)
    return render(request, "audit/log.html", context, status=200 if form.is_valid() else 400)


@require_POST
def audit_verify_run(request: HtmxHttpRequest) -> HttpResponse:
    """Walk the whole chain now (on demand: it reads every event), for who may export it."""
    if not _exportable_ids(request.user):
        raise PermissionDenied("Checking the chain is for platform leads and auditors.")
    expect_head = request.POST.get("expect_head", "").strip().lower()
    result: VerifyResult | None = None
    error = ""
    if expect_head and not HASH_RE.match(expect_head):
        error = "A head hash is 64 hexadecimal characters: check the value you copied."
    else:
        result = audit_verify(expect_head=expect_head or None)
    outcome = {"verify": result, "verify_error": error, "expect_head": expect_head}
    status = 400 if error else 200
    if request.htmx:
        return render(request, "audit/log.html#verify-result", outcome)
    projects = _my_projects(request.user)
    context = _log_context(request, AuditFilterForm({}, projects=projects), projects)
    return render(request, "audit/log.html", {**context, **outcome}, status=status)


def _export(request: HttpRequest, fmt: str) -> HttpResponseBase:
    projects = _my_projects(request.user)
    form = AuditFilterForm(request.GET, projects=projects)
    if not form.is_valid():
        return HttpResponseBadRequest(
            "The filter is not valid: " + json.dumps(form.errors.get_json_data()),
            content_type="text/plain; charset=utf-8",
        )
    scope = _exportable_ids(request.user)
    if form.cleaned_data["project"] is not None:
        scope = [pid for pid in scope if pid == form.cleaned_data["project"]]
    if not scope:
        raise PermissionDenied("Exporting the change log is for platform leads and auditors.")
    filters = form.filter_values()
    audit_export_record(actor=request.user, fmt=fmt, filters=filters, project_ids=scope)
    # Taken after recording, so the export covers (and its head names) its own event.
    frame = exports.ExportFrame(
        head=audit_head(),
        filters={**filters, "projects": scope},
        exported_at=timezone.now(),
        exported_by=request.user.get_username(),
    )
    events = audit_events_for(project_ids=scope, filters=form.cleaned_data)
    if fmt == "csv":
        chunks, content_type = exports.csv_chunks(events, frame), "text/csv; charset=utf-8"
    else:
        chunks, content_type = exports.jsonl_chunks(events, frame), "application/x-ndjson"
    response = StreamingHttpResponse(chunks, content_type=content_type)
    stamp = frame.exported_at.strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = (
        f'attachment; filename="audit-{stamp}-head-{frame.head.seq}.{fmt}"'
    )
    response["X-Audit-Head-Seq"] = str(frame.head.seq)
    response["X-Audit-Head-Hash"] = frame.head.hash
    response["X-Audit-Filter"] = json.dumps(frame.filters, separators=(",", ":"))
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def audit_export_csv(request: HttpRequest) -> HttpResponseBase:
    return _export(request, "csv")


@require_GET
def audit_export_jsonl(request: HttpRequest) -> HttpResponseBase:
    return _export(request, "jsonl")
