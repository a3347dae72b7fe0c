"""The monitoring panel on the release page, closing a window early, and the project's
health queries.

The panel polls every few seconds while its window runs and gets HTTP 286 (htmx stops
polling) once the window is over. Members of the project read it; closing needs
MANAGE_INCIDENTS (SRE, platform lead); health queries need MANAGE_PROJECT.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from checklists.access import get_release_for_user
from checklists.models import Release
from migrations_ops.monitoring import health_queries as query_services
from migrations_ops.monitoring import selectors, services
from migrations_ops.monitoring.forms import CloseWindowForm, HealthQueryForm, WindowSettingsForm
from migrations_ops.monitoring.models import HealthQuery, MonitoringWindow
from release_portal.accounts.access import get_project_for_user
from release_portal.accounts.roles import Action, can
from release_portal.http import HtmxHttpRequest, error_text
from release_portal.routes import Routes

routes = Routes()

PANEL = "migrations_ops/monitoring/release.html"
QUERIES = "migrations_ops/monitoring/queries.html"
HTTP_STOP_POLLING = 286
POLL_SECONDS = 5


def monitoring_panel_context(
    request: HtmxHttpRequest,
    release: Any,
    *,
    form: CloseWindowForm | None = None,
    has_window: bool = True,
) -> dict[str, Any]:
    """What ``migrations_ops/monitoring.html#monitoring_panel`` needs; the release page
    merges it into its context (the panel renders nothing before the first window) and
    says whether the release has a window at all."""
    window = selectors.latest_window(release) if has_window else None
    context: dict[str, Any] = {"release": release, "monitoring_window": window}
    if window is None:
        context["monitoring_polling"] = False
        return context
    active = window.state in (MonitoringWindow.State.OPEN, MonitoringWindow.State.ALERTED)
    may_act = can(request.user, Action.MANAGE_INCIDENTS, release.project_id)
    alerted = window.state == MonitoringWindow.State.ALERTED
    context.update(
        monitoring_rows=selectors.window_rows(window),
        monitoring_polling=window.running,
        monitoring_poll_seconds=POLL_SECONDS,
        monitoring_minutes_left=selectors.minutes_left(window),
        monitoring_may_close=active and release.state == Release.State.MONITORING and may_act,
        monitoring_close_form=form or CloseWindowForm(),
        # Offered to those who may open one (SREs, platform leads).
        monitoring_incident_url=services.incident_url(release) if alerted and may_act else None,
    )
    return context


@routes.path("releases/<int:pk>/monitoring", name="release_monitoring")
@require_GET
def release_monitoring(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The panel: a fragment for htmx (286 once the window is over), else a page."""
    release = get_release_for_user(request.user, pk)
    context = monitoring_panel_context(request, release)
    if not request.htmx:
        return render(request, PANEL, context)
    response = render(request, f"{PANEL}#monitoring_panel", context)
    if not context["monitoring_polling"]:
        response.status_code = HTTP_STOP_POLLING
    return response


@routes.path("monitoring/<int:pk>/close", name="monitoring_close")
@require_POST
def monitoring_close_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    window = get_object_or_404(MonitoringWindow, pk=pk)
    release = get_release_for_user(request.user, window.release_id, Action.MANAGE_INCIDENTS)
    form = CloseWindowForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            services.monitoring_close(
                window=window, user=request.user, reason=form.cleaned_data["reason"]
            )
        except ValidationError as e:
            error = error_text(e)
            form.add_error(None, error)
    else:
        error = "Say why the window is closed early."
    if request.htmx:
        release.refresh_from_db()
        context = monitoring_panel_context(request, release, form=form if error else None)
        return render(request, f"{PANEL}#monitoring_panel", context, status=400 if error else 200)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, "Monitoring closed early: the release is deployed.")
    return redirect("release_detail", pk=release.pk)


# --- health queries ---------------------------------------------------------------------------


def _queries_page(
    request: HtmxHttpRequest,
    project: Any,
    *,
    new_form: HealthQueryForm | None = None,
    bound: dict[int, HealthQueryForm] | None = None,
    window_form: WindowSettingsForm | None = None,
    status: int = 200,
) -> HttpResponse:
    settings_row = services.project_monitoring(project)
    queries = list(HealthQuery.objects.filter(project=project).order_by("pk"))
    bound = bound or {}
    rows = [
        {
            "query": q,
            "form": bound.get(q.pk)
            or HealthQueryForm(initial=HealthQueryForm.initial_for(q), auto_id=f"q{q.pk}-%s"),
        }
        for q in queries
    ]
    return render(
        request,
        QUERIES,
        {
            "project": project,
            "rows": rows,
            "new_form": new_form or HealthQueryForm(auto_id="new-%s"),
            "window_form": window_form
            or WindowSettingsForm(initial={"window_minutes": settings_row.window_minutes}),
        },
        status=status,
    )


@routes.path("projects/<slug:slug>/monitoring/", name="health_queries")
@require_http_methods(["GET", "POST"])
def health_queries(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Action.MANAGE_PROJECT)
    if request.method != "POST":
        return _queries_page(request, project)
    form = HealthQueryForm(request.POST, auto_id="new-%s")
    if form.is_valid():
        try:
            query = query_services.health_query_create(
                project=project, user=request.user, **form.cleaned_data
            )
        except ValidationError as e:
            form.add_error(None, e)
        else:
            messages.success(request, f"Added the health query {query.name}.")
            return redirect("health_queries", slug=project.slug)
    return _queries_page(request, project, new_form=form, status=400)


@routes.path("projects/<slug:slug>/monitoring/queries/<int:pk>", name="health_query_edit")
@require_POST
def health_query_edit(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Action.MANAGE_PROJECT)
    query = get_object_or_404(HealthQuery, pk=pk, project=project)
    form = HealthQueryForm(request.POST, auto_id=f"q{query.pk}-%s")
    if form.is_valid():
        try:
            query_services.health_query_update(query=query, user=request.user, **form.cleaned_data)
        except ValidationError as e:
            form.add_error(None, e)
        else:
            messages.success(request, f"Saved the health query {form.cleaned_data['name']}.")
            return redirect("health_queries", slug=project.slug)
    return _queries_page(request, project, bound={query.pk: form}, status=400)


@routes.path("projects/<slug:slug>/monitoring/settings", name="monitoring_settings")
@require_POST
def monitoring_settings(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Action.MANAGE_PROJECT)
    form = WindowSettingsForm(request.POST)
    if form.is_valid():
        query_services.monitoring_settings_update(
            project=project, user=request.user, window_minutes=form.cleaned_data["window_minutes"]
        )
        messages.success(request, "Saved: new monitoring windows use this length.")
        return redirect("health_queries", slug=project.slug)
    return _queries_page(request, project, window_form=form, status=400)
