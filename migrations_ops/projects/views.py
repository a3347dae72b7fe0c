"""A project's settings page: job settings and targets. Platform leads only.

Other projects are 404s (``get_project_for_user``); members without MANAGE_PROJECT get
403. The "Test connection" button posts a form; with htmx only its result is swapped.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from migrations_ops.models import Project, Target
from migrations_ops.projects.forms import ProjectCreateForm, ProjectSettingsForm, TargetForm
from migrations_ops.projects.onboarding import project_create
from migrations_ops.projects.services import (
    ConnectionTest,
    SettingsError,
    TargetError,
    project_settings_update,
    target_connection_test,
    target_create,
    target_delete,
    target_update,
)
from migrations_ops.target_rule import allowed_patterns
from release_portal.accounts.access import get_project_for_user
from release_portal.accounts.roles import Action
from release_portal.http import HtmxHttpRequest, act
from release_portal.routes import Routes

routes = Routes()

TEMPLATE = "migrations_ops/projects/settings.html"


def _get_target_for_user(request: HttpRequest, slug: str, pk: int) -> tuple[Project, Target]:
    """The project, which the user must manage, and its target ``pk``; 404 for a target
    of another project."""
    project = get_project_for_user(request.user, slug, Action.MANAGE_PROJECT)
    return project, get_object_or_404(Target, pk=pk, project=project)


def _target_form(project: Project, target: Target, data: Any = None) -> TargetForm:
    initial = {"name": target.name, "kind": target.kind, "url_env_var": target.url_env_var}
    return TargetForm(
        data, project=project, target=target, initial=initial, auto_id=f"target-{target.pk}-%s"
    )


def _settings_form(project: Project) -> ProjectSettingsForm:
    return ProjectSettingsForm(project=project, initial=ProjectSettingsForm.initial_for(project))


def _page(
    request: HttpRequest,
    project: Project,
    *,
    form: ProjectSettingsForm | None = None,
    new_target: TargetForm | None = None,
    bound: dict[int, TargetForm] | None = None,
    results: dict[int, ConnectionTest] | None = None,
    status: int = 200,
) -> HttpResponse:
    bound, results = bound or {}, results or {}
    targets = list(Target.objects.filter(project=project).with_rule().in_flow_order())
    rows = []
    for t in targets:
        refusal = t.refusal
        rows.append(
            {
                "target": t,
                "form": bound.get(t.pk) or _target_form(project, t),
                "refusal": refusal,
                "is_set": refusal is None and t.database_url() is not None,
                "result": results.get(t.pk),
            }
        )
    return render(
        request,
        TEMPLATE,
        {
            "project": project,
            "form": form or _settings_form(project),
            "target_vars": allowed_patterns(project.slug),
            "rows": rows,
            "new_target": new_target
            or TargetForm(project=project, auto_id="new-target-%s", initial={"kind": "staging"}),
        },
        status=status,
    )


@routes.path("projects/<slug:slug>/settings/", name="project_settings")
@require_http_methods(["GET", "POST"])
def project_settings(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Action.MANAGE_PROJECT)
    if request.method != "POST":
        return _page(request, project)
    form = ProjectSettingsForm(request.POST, project=project)
    if not form.is_valid():
        return _page(request, project, form=form, status=400)
    try:
        changed = project_settings_update(
            project=project, values=form.cleaned_data, user=request.user
        )
    except SettingsError as e:
        form.add_error("command_env_names", str(e))
        return _page(request, project, form=form, status=400)
    if changed:
        messages.success(request, f"Saved: {', '.join(f.replace('_', ' ') for f in changed)}.")
    else:
        messages.info(request, "Nothing changed.")
    return redirect("project_settings", slug=project.slug)


def _target_saved(request: HttpRequest, form: TargetForm) -> HttpResponse:
    """The posted target form saved (a new target, or the changes to ``form.target``), then
    back to the settings page saying so; else the page again (400) with the form saying
    why (the service's refusal under the URL variable, the setting it is about)."""
    project, target = form.project, form.target
    if form.is_valid():
        try:
            if target is None:
                saved = target_create(project=project, user=request.user, **form.cleaned_data)
                done = f"Added the target {saved.name}."
            else:
                saved = target_update(target=target, user=request.user, **form.cleaned_data)
                done = f"Saved the target {saved.name}."
        except TargetError as e:
            form.add_error("url_env_var", str(e))
        else:
            messages.success(request, done)
            return redirect("project_settings", slug=project.slug)
    if target is None:
        return _page(request, project, new_target=form, status=400)
    return _page(request, project, bound={target.pk: form}, status=400)


@routes.path("projects/<slug:slug>/settings/targets/", name="target_new")
@require_POST
def target_new(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Action.MANAGE_PROJECT)
    form = TargetForm(request.POST, project=project, auto_id="new-target-%s")
    return _target_saved(request, form)


@routes.path("projects/<slug:slug>/settings/targets/<int:pk>/", name="target_edit")
@require_POST
def target_edit(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project, target = _get_target_for_user(request, slug, pk)
    return _target_saved(request, _target_form(project, target, request.POST))


@routes.path("projects/<slug:slug>/settings/targets/<int:pk>/delete", name="target_remove")
@require_POST
def target_remove(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project, target = _get_target_for_user(request, slug, pk)
    return act(
        request,
        lambda: target_delete(target=target, user=request.user),
        done=f"Removed the target {target.name}.",
        back=redirect("project_settings", slug=project.slug),
        refusals=(TargetError,),
    )


@routes.path("projects/<slug:slug>/settings/targets/<int:pk>/test", name="target_test")
@require_POST
def target_test(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    project, target = _get_target_for_user(request, slug, pk)
    result = target_connection_test(target=target, user=request.user)
    if request.htmx:
        return render(request, f"{TEMPLATE}#test_result", {"target": target, "result": result})
    return _page(request, project, results={target.pk: result})


@routes.path("operators/projects/new", name="operator_project_new")
@require_http_methods(["GET", "POST"])
def operator_project_new(request: HttpRequest) -> HttpResponse:
    """Operators (superusers) create a project and invite its first platform lead."""
    if not request.user.is_superuser:
        raise PermissionDenied("Only the portal's operators (superusers) create projects.")
    form = ProjectCreateForm(request.POST or None)
    made = None
    if request.method == "POST" and form.is_valid():
        try:
            made = project_create(
                name=form.cleaned_data["name"],
                slug=form.cleaned_data["slug"],
                lead_email=form.cleaned_data["lead_email"],
                created_by=request.user,
                base_url=request.build_absolute_uri("/"),
            )
        except ValidationError as e:
            form.add_error(None, e)
        else:
            form = ProjectCreateForm()  # the next project starts blank, not with this one's slug
    return render(
        request,
        "migrations_ops/projects/new.html",
        {"form": form, "made": made},
        status=400 if form.errors else 200,
    )
