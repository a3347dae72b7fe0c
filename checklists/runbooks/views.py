"""Runbook pages: list, upload, a version (rendered, steps, change log, lint), compare.

Every member of a project reads them; platform leads (PUBLISH_RUNBOOK) upload, edit
draft steps, publish and discard. Other projects' runbooks are 404s.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from checklists.models import RunbookStep, RunbookVersion
from checklists.runbooks import selectors
from checklists.runbooks.diff import diff_steps, source_diff
from checklists.runbooks.forms import (
    EVIDENCE_HELP,
    RunbookPublishForm,
    RunbookStepForm,
    RunbookUploadForm,
)
from checklists.runbooks.lint import counts
from checklists.runbooks.render import render_inline, render_markdown
from checklists.runbooks.services import (
    RunbookError,
    RunbookImportError,
    runbook_discard,
    runbook_import,
    runbook_publish,
    runbook_step_update,
)
from migrations_ops.models import Project
from release_portal.accounts.access import get_project_for_user
from release_portal.accounts.roles import Action, ProjectAccess, can, visible_project_ids
from release_portal.http import HtmxHttpRequest
from release_portal.routes import Routes

routes = Routes()

TEMPLATE = "checklists/runbooks/version.html"


def _version(project: Project, number: int) -> RunbookVersion:
    return get_object_or_404(RunbookVersion, project=project, number=number)


def _get_version_for_user(user: Any, slug: str, number: int, action: Action) -> RunbookVersion:
    """Version ``number`` of the project's runbook, with its project: 404 unless ``user``
    sees the project (or for no such version), 403 unless they may do ``action`` there."""
    project = get_project_for_user(user, slug, action)
    version = _version(project, number)
    version.project = project  # read just now: no second query for it
    return version


def _detail_url(version: RunbookVersion) -> str:
    return reverse(
        "runbook_detail", kwargs={"slug": version.project.slug, "number": version.number}
    )


def _step_form(step: RunbookStep, data: Any = None) -> RunbookStepForm:
    initial = {
        "owner": step.owner,
        "evidence_kinds": ", ".join(step.evidence_kinds),
        "requires_evidence": step.requires_evidence,
    }
    return RunbookStepForm(data, initial=initial, auto_id=f"step-{step.pk}-%s")


def _rows(
    version: RunbookVersion, editable: bool, bound: dict[int, RunbookStepForm] | None = None
) -> list[dict[str, Any]]:
    bound = bound or {}
    return [
        _row(step, bound.get(step.pk) or (_step_form(step) if editable else None))
        for step in selectors.version_steps(version)
    ]


def _row(step: RunbookStep, form: RunbookStepForm | None) -> dict[str, Any]:
    return {"step": step, "form": form, "text_html": render_inline(step.text)}


def _findings(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lint findings with their messages' `code` spans rendered (sanitised)."""
    return [
        {
            **f,
            "problem_html": render_inline(f.get("problem", "")),
            "suggestion_html": render_inline(f.get("suggestion", "")),
        }
        for f in findings
    ]


@routes.path("runbooks/", name="runbook_list")
@require_GET
def runbook_list(request: HttpRequest) -> HttpResponse:
    projects = list(Project.objects.filter(pk__in=visible_project_ids(request.user)))
    chosen = None
    if slug := request.GET.get("project"):
        chosen = next((p for p in projects if p.slug == slug), None)
        if chosen is None:
            raise Http404("No such project.")
    versions = list(selectors.versions_for_user(request.user, chosen))
    # Every version of a project is listed: its highest published one is what new releases
    # pin, and the older published ones say which replaced them (both read "Published").
    current: dict[int, int] = {}
    for version in versions:
        version.lint_counts = counts(version.lint_findings)  # type: ignore[attr-defined]
        if version.status == RunbookVersion.Status.PUBLISHED:
            current[version.project_id] = max(current.get(version.project_id, 0), version.number)
    for version in versions:
        newest = current.get(version.project_id, 0)
        published = version.status == RunbookVersion.Status.PUBLISHED
        version.superseded_by = newest if published and newest > version.number else None  # type: ignore[attr-defined]
    uploadable = [p for p in projects if can(request.user, Action.PUBLISH_RUNBOOK, p)]
    manageable = [p for p in projects if can(request.user, Action.MANAGE_PROJECT, p)]
    return render(
        request,
        "checklists/runbooks/list.html",
        {
            "projects": projects,
            "chosen": chosen,
            "versions": versions,
            "uploadable": uploadable,
            "manageable": manageable,
        },
    )


@routes.path("projects/<slug:slug>/runbooks/upload", name="runbook_upload")
@require_http_methods(["GET", "POST"])
def runbook_upload(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Action.PUBLISH_RUNBOOK)
    form = RunbookUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            version = runbook_import(
                project=project, source_bytes=form.cleaned_data["file"], user=request.user
            )
        except RunbookImportError as e:
            form.add_error("file", str(e))
        else:
            messages.success(
                request,
                f"Imported v{version.number} as a draft: review its steps and lint findings, "
                "then compare and publish.",
            )
            return redirect(_detail_url(version))
    return render(
        request,
        "checklists/runbooks/upload.html",
        {"project": project, "form": form},
        status=400 if form.errors else 200,
    )


def _detail(
    request: HttpRequest,
    version: RunbookVersion,
    bound: dict[int, RunbookStepForm] | None = None,
    status: int = 200,
) -> HttpResponse:
    project = version.project
    access = ProjectAccess(request.user, project)
    editable = version.status == RunbookVersion.Status.DRAFT and access.may["publish_runbook"]
    findings = list(version.lint_findings)
    return render(
        request,
        TEMPLATE,
        {
            "project": project,
            "version": version,
            "access": access,
            "editable": editable,
            "rows": _rows(version, editable, bound),
            "rendered": render_markdown(version.source),
            "findings": _findings(findings),
            "lint_counts": counts(findings),
            # A published version older than this one is what new releases pin instead.
            "published": selectors.latest_published_version(project),
            "previous": selectors.published_beside(version),
            "evidence_help": EVIDENCE_HELP,
        },
        status=status,
    )


@routes.path("projects/<slug:slug>/runbooks/<int:number>/", name="runbook_detail")
@require_GET
def runbook_detail(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    return _detail(request, _get_version_for_user(request.user, slug, number, Action.VIEW))


@routes.path("projects/<slug:slug>/runbooks/<int:number>/steps/<int:pk>", name="runbook_step_edit")
@require_POST
def runbook_step_edit(request: HtmxHttpRequest, slug: str, number: int, pk: int) -> HttpResponse:
    version = _get_version_for_user(request.user, slug, number, Action.PUBLISH_RUNBOOK)
    step = get_object_or_404(RunbookStep, pk=pk, version=version)
    form = _step_form(step, request.POST)
    saved = False
    if form.is_valid():
        try:
            step = runbook_step_update(
                step=step,
                owner=form.cleaned_data["owner"],
                evidence_kinds=form.cleaned_data["evidence_kinds"],
                requires_evidence=form.cleaned_data["requires_evidence"],
                user=request.user,
            )
            saved = True
        except RunbookError as e:
            form.add_error(None, str(e))
    if request.htmx:
        # 200 even for errors: htmx only swaps successful responses, and the row shows them.
        editable = version.status == RunbookVersion.Status.DRAFT
        row = _row(step, _step_form(step) if saved else form)
        return render(
            request,
            f"{TEMPLATE}#step_row",
            {"row": row, "project": version.project, "version": version, "editable": editable,
             "saved": saved},
        )  # fmt: skip
    if saved:
        messages.success(request, f"Saved step {step.position}: {step.key}.")
        return redirect(_detail_url(version) + f"#step-{step.key}")
    if version.status != RunbookVersion.Status.DRAFT:  # no form on the page to show it
        for error in form.non_field_errors():
            messages.error(request, str(error))
    return _detail(request, version, bound={step.pk: form}, status=400)


def _compare(
    request: HttpRequest, version: RunbookVersion, form: RunbookPublishForm, status: int = 200
) -> HttpResponse:
    project = version.project
    against = selectors.published_beside(version)
    if against_number := request.GET.get("against", "").strip():
        if not against_number.isdigit():
            raise Http404("No such version.")
        against = _version(project, int(against_number))
    old_steps = list(selectors.version_steps(against)) if against else []
    access = ProjectAccess(request.user, project)
    return render(
        request,
        "checklists/runbooks/compare.html",
        {
            "project": project,
            "version": version,
            "against": against,
            "diff": diff_steps(old_steps, list(selectors.version_steps(version))),
            "source_rows": source_diff(against.source if against else "", version.source),
            "access": access,
            "may_publish": version.status == RunbookVersion.Status.DRAFT
            and access.may["publish_runbook"],
            "form": form,
        },
        status=status,
    )


@routes.path("projects/<slug:slug>/runbooks/<int:number>/compare", name="runbook_compare")
@require_GET
def runbook_compare(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    version = _get_version_for_user(request.user, slug, number, Action.VIEW)
    return _compare(request, version, RunbookPublishForm())


@routes.path("projects/<slug:slug>/runbooks/<int:number>/publish", name="runbook_publish")
@require_POST
def runbook_publish_view(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    version = _get_version_for_user(request.user, slug, number, Action.PUBLISH_RUNBOOK)
    form = RunbookPublishForm(request.POST)
    if form.is_valid():
        try:
            runbook_publish(version=version, user=request.user, notes=form.cleaned_data["notes"])
        except RunbookError as e:
            form.add_error("notes", str(e))
        else:
            messages.success(request, f"Published v{version.number}: new releases pin it.")
            return redirect(_detail_url(version))
    return _compare(request, version, form, status=400)


@routes.path("projects/<slug:slug>/runbooks/<int:number>/discard", name="runbook_discard")
@require_POST
def runbook_discard_view(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    version = _get_version_for_user(request.user, slug, number, Action.PUBLISH_RUNBOOK)
    try:
        runbook_discard(version=version, user=request.user)
    except RunbookError as e:
        messages.error(request, str(e))
        return redirect(_detail_url(version))
    messages.success(request, f"Discarded draft v{number}.")
    return redirect(reverse("runbook_list") + f"?project={version.project.slug}")
