"""The change-log page, its chain check, its exports, and the public key."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    JsonResponse,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from release_portal.accounts.models import Membership
from release_portal.accounts.roles import Action, can, visible_project_ids
from release_portal.audit import exports, registry, signing
from release_portal.audit.checkpoints import audit_export_start
from release_portal.audit.forms import AuditFilterForm
from release_portal.audit.models import AuditVerification
from release_portal.audit.selectors import (
    ChainHead,
    audit_events_for,
    audit_filter,
    audit_head,
    audit_page,
    latest_checkpoint,
    project_names,
    signing_keys,
)
from release_portal.audit.verification import verification_start
from release_portal.http import HtmxHttpRequest
from release_portal.routes import Routes

routes = Routes()

HASH_RE = re.compile(r"^[0-9a-f]{64}$")
HTTP_STOP_POLLING = 286  # htmx stops polling on this status (and still swaps the answer)


def _my_projects(user: Any) -> list[Any]:
    from migrations_ops.models import Project

    return list(Project.objects.filter(pk__in=visible_project_ids(user)).only("pk", "name"))


def _exportable_ids(user: Any) -> list[int]:
    return [pid for pid in visible_project_ids(user) if can(user, Action.EXPORT_AUDIT, pid)]


def _filter_form(request: HttpRequest, projects: list[Any]) -> AuditFilterForm:
    ids = [p.pk for p in projects]
    return AuditFilterForm(
        request.GET, projects=projects, releases=registry.release_choices(ids) if ids else []
    )


def _people(projects: list[Any]) -> list[str]:
    """Names for the person filter's suggestions: the members of the person's projects."""
    names = Membership.objects.filter(project_id__in=[p.pk for p in projects]).values_list(
        "user__username", flat=True
    )
    return sorted(set(names), key=str.lower)


def _verification_context(user: Any) -> dict[str, Any]:
    run = AuditVerification.objects.order_by("-pk").first()
    return {"run": run, "can_verify": bool(_exportable_ids(user))}


def _log_context(request: HttpRequest, form: AuditFilterForm, projects: list[Any]) -> dict:
    user = request.user
    exportable = _exportable_ids(user)
    context: dict[str, Any] = {
        "form": form,
        "head": audit_head(),
        "checkpoint": latest_checkpoint(),
        "keys": signing_keys(),
        "people": _people(projects),
        "page": None,
        "can_export": False,
        **_verification_context(user),
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
        filtered=bool(query),
        newest_url=url(),
        older_url=url(before=page.older) if page.older else "",
        newer_url=url(after=page.newer) if page.newer else "",
        export_query=f"?{filter_query}" if filter_query else "",
        # Only offer exports the person may take: their own projects' EXPORT_AUDIT.
        can_export=bool(exportable)
        and (query.get("project") is None or query["project"] in exportable),
    )
    return context


@routes.path("audit/", name="audit_log")
@require_GET
def audit_log(request: HtmxHttpRequest) -> HttpResponse:
    """Events of the person's projects in words, newest first, filtered, 50 a page."""
    projects = _my_projects(request.user)
    form = _filter_form(request, projects)
    context = _log_context(request, form, projects)
    if request.htmx and not request.htmx.history_restore_request:
        # htmx does not swap 4xx answers: a form error comes back as a 200 fragment.
        return render(request, "release_portal/audit/log.html#events", context)
    return render(
        request, "release_portal/audit/log.html", context, status=200 if form.is_valid() else 400
    )


@routes.path("audit/verify", name="audit_verify")
@require_POST
def audit_verify_run(request: HtmxHttpRequest) -> HttpResponse:
    """Start a check of the whole chain on a worker (for who may export the log)."""
    exportable = _exportable_ids(request.user)
    if not exportable:
        raise PermissionDenied("Checking the chain is for platform leads and auditors.")
    expect_head = request.POST.get("expect_head", "").strip().lower()
    if expect_head and not HASH_RE.match(expect_head):
        error = "A head hash is 64 hexadecimal characters: check the value you copied."
        if request.htmx:
            fragment = {"verify_error": error, "can_verify": True, "expect_head": expect_head}
            return render(request, "release_portal/audit/log.html#verify-result", fragment)
        projects = _my_projects(request.user)
        context = _log_context(request, _filter_form(request, projects), projects)
        context.update(verify_error=error, expect_head=expect_head)
        return render(request, "release_portal/audit/log.html", context, status=400)
    run, started = verification_start(
        user=request.user, project_ids=exportable, expect_head=expect_head
    )
    if request.htmx:
        fragment = {"run": run, "can_verify": True, "joined": not started}
        return render(request, "release_portal/audit/log.html#verify-result", fragment)
    projects = _my_projects(request.user)
    context = _log_context(request, AuditFilterForm({}, projects=projects), projects)
    context.update(run=run, joined=not started)
    return render(request, "release_portal/audit/log.html", context)


@routes.path("audit/verify/<int:pk>", name="audit_verification")
@require_GET
def audit_verification(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """A check's progress and result (the page polls it every second while it runs)."""
    if not _exportable_ids(request.user):
        raise PermissionDenied("Checking the chain is for platform leads and auditors.")
    run = get_object_or_404(AuditVerification, pk=pk)
    response = render(
        request, "release_portal/audit/log.html#verify-result", {"run": run, "can_verify": True}
    )
    if request.htmx and not run.is_active:
        response.status_code = HTTP_STOP_POLLING
    return response


# --- the public key and checkpoints -------------------------------------------------------


@routes.path("audit/public-key.pem", name="audit_public_key")
@login_not_required
@require_GET
def audit_public_key(request: HttpRequest) -> HttpResponse:
    """The key that signs checkpoints now (PEM): public, so anyone can check an export."""
    try:
        pem = signing.served_public_pem()
    except signing.SigningKeyError:
        raise Http404("No signing key is configured yet.") from None
    response = HttpResponse(pem, content_type="application/x-pem-file")
    response["Content-Disposition"] = 'inline; filename="release-portal-audit-key.pem"'
    return response


@routes.path("audit/public-keys.json", name="audit_public_keys")
@login_not_required
@require_GET
def audit_public_keys(request: HttpRequest) -> JsonResponse:
    """Every key that signed checkpoints, with when it was valid and its rotation."""
    return JsonResponse({"keys": exports.key_records()})


@routes.path("audit/verify_changelog.py", name="audit_offline_script")
@login_not_required
@require_GET
def audit_offline_script(request: HttpRequest) -> HttpResponse:
    """The offline checker, public like the key: an outsider has no checkout to take it from.

    The audit page and the README tell an auditor to run it; without this, only an evidence
    pack carried it, and whoever was handed just an export had nothing to check it with.
    """
    response = HttpResponse(exports.offline_script(), content_type="text/x-python; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="verify_changelog.py"'
    return response


@routes.path("audit/checkpoint.json", name="audit_checkpoint_latest")
@require_GET
def audit_checkpoint_latest(request: HttpRequest) -> HttpResponse:
    """The newest signed checkpoint, as a file to keep (``--checkpoint`` of the verifier)."""
    if not _exportable_ids(request.user):
        raise PermissionDenied("Checkpoints are for platform leads and auditors.")
    checkpoint = latest_checkpoint()
    if checkpoint is None:
        raise Http404("No checkpoint was signed yet: export the log, or wait for the schedule.")
    response = HttpResponse(
        json.dumps(checkpoint.document, indent=2) + "\n", content_type="application/json"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="audit-checkpoint-{checkpoint.seq}.json"'
    )
    return response


# --- exports -------------------------------------------------------------------------------


def _export(request: HttpRequest, fmt: str) -> HttpResponseBase:
    projects = _my_projects(request.user)
    form = _filter_form(request, projects)
    if not form.is_valid():
        return HttpResponseBadRequest(
            "The filter is not valid: " + " ".join(form.error_lines()) + "\n",
            content_type="text/plain; charset=utf-8",
        )
    scope = _exportable_ids(request.user)
    if form.cleaned_data["project"] is not None:
        scope = [pid for pid in scope if pid == form.cleaned_data["project"]]
    if not scope:
        raise PermissionDenied("Exporting the change log is for platform leads and auditors.")
    filters = form.filter_values()
    try:
        # Recorded and signed before streaming: the export covers its own events.
        checkpoint = audit_export_start(
            actor=request.user, fmt=fmt, filters=filters, project_ids=scope
        )
    except signing.SigningKeyError as e:
        return HttpResponse(
            f"The export cannot be signed: {e}.", status=503, content_type="text/plain"
        )
    frame = exports.ExportFrame(
        head=ChainHead(checkpoint.seq, checkpoint.hash, checkpoint.public_hash),
        checkpoint=checkpoint.document,
        filters={**filters, "projects": scope},
        exported_at=timezone.now(),
        exported_by=request.user.get_username(),
    )
    selection = audit_filter(project_ids=scope, filters=form.cleaned_data)
    if fmt == "csv":
        chunks, content_type = exports.csv_chunks(selection, frame), "text/csv; charset=utf-8"
    else:
        chunks, content_type = exports.jsonl_chunks(selection, frame), "application/x-ndjson"
    response = StreamingHttpResponse(chunks, content_type=content_type)
    stamp = frame.exported_at.strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = (
        f'attachment; filename="audit-{stamp}-head-{frame.head.seq}.{fmt}"'
    )
    response["X-Audit-Head-Seq"] = str(frame.head.seq)
    response["X-Audit-Head-Hash"] = frame.head.hash
    response["X-Audit-Head-Public-Hash"] = frame.head.public_hash
    response["X-Audit-Filter"] = json.dumps(frame.filters, separators=(",", ":"))
    response["Cache-Control"] = "no-store"
    return response


@routes.path("audit/export.csv", name="audit_export_csv")
@require_GET
def audit_export_csv(request: HttpRequest) -> HttpResponseBase:
    return _export(request, "csv")


@routes.path("audit/export.jsonl", name="audit_export_jsonl")
@require_GET
def audit_export_jsonl(request: HttpRequest) -> HttpResponseBase:
    return _export(request, "jsonl")
