"""Incident pages: the list, opening one, and the incident page with its steps.

Everyone in the project reads; SREs and platform leads act (403); other projects 404.
Each step is a form POST to ``incidents/<pk>/<action>``; with htmx only the incident's
body (steps, jobs, timeline) is swapped, and it refreshes itself while a job runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from checklists.access import get_release_for_user
from migrations_ops.incidents import forms, services
from migrations_ops.models import Incident, Job, RollbackPlan
from release_portal.accounts.access import get_for_user, require
from release_portal.accounts.roles import Action, ProjectAccess, visible_project_ids
from release_portal.http import HtmxHttpRequest, error_text, paged, render_page
from release_portal.routes import Routes

routes = Routes()

TEMPLATE = "migrations_ops/incidents/detail.html"


def get_incident_for_user(user: Any, pk: int) -> Incident:
    queryset = Incident.objects.select_related("project", "release", "target", "plan")
    return get_for_user(user, queryset, what="incident", pk=pk)


@routes.path("incidents/", name="incident_list")
@require_GET
def incident_list(request: HtmxHttpRequest) -> HttpResponse:
    form = forms.IncidentFilterForm(
        request.GET or None, project_ids=visible_project_ids(request.user)
    )
    rows = Incident.objects.filter(project__in=visible_project_ids(request.user)).select_related(
        "project", "release", "target"
    )
    rows = form.apply(rows, date_field="opened_at", state_field="state")
    context = {"form": form, **paged(request, rows.order_by("-opened_at", "-pk"))}
    return render_page(request, "migrations_ops/incidents/list.html", "incident_rows", context)


@routes.path("releases/<int:pk>/incidents/new", name="incident_new")
@require_http_methods(["GET", "POST"])
def incident_new(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    release = get_release_for_user(request.user, pk, Action.MANAGE_INCIDENTS)
    form = forms.IncidentOpenForm(request.POST or None, project=release.project)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            incident = services.incident_open(
                release=release, target=data["target"], user=request.user, title=data["title"],
                trigger=data["trigger"], error_text=data["error_text"],
            )  # fmt: skip
        except ValidationError as e:
            form.add_error(None, e)
        else:
            messages.success(request, f"Opened incident #{incident.pk}: freeze writes first.")
            return redirect("incident_detail", pk=incident.pk)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "migrations_ops/incidents/new.html", {"release": release, "form": form},
        status=status,
    )  # fmt: skip


def _context(request: HtmxHttpRequest, incident: Incident) -> dict[str, Any]:
    entries = list(incident.entries.select_related("job").order_by("at", "pk"))
    jobs: dict[int, Job] = {}
    for entry in entries:
        if entry.job is not None:
            jobs[entry.job.pk] = entry.job
    return {
        "incident": incident,
        "access": ProjectAccess(request.user, incident.project),
        "entries": entries,
        "jobs": sorted(jobs.values(), key=lambda j: j.pk),
        "polling": any(j.is_active for j in jobs.values()),
        "plans": RollbackPlan.objects.filter(
            release=incident.release, target=incident.target
        ).order_by("-created_at")[:10],
        "note_form": forms.NoteForm(),
        "close_form": forms.CloseForm(),
    }


@routes.path("incidents/<int:pk>/", name="incident_detail")
@require_GET
def incident_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    incident = get_incident_for_user(request.user, pk)
    context = _context(request, incident)
    if request.htmx:
        return render(request, f"{TEMPLATE}#incident_body", context)
    return render(request, TEMPLATE, context)


def _plan(request: HtmxHttpRequest, incident: Incident) -> str:
    form = forms.PlanChoiceForm(request.POST)
    chosen = None
    if form.is_valid() and form.cleaned_data.get("plan"):
        chosen = RollbackPlan.objects.filter(
            pk=form.cleaned_data["plan"], project=incident.project
        ).first()
    done = services.incident_plan(incident=incident, user=request.user, plan=chosen)
    return f"Rollback plan #{done.plan_id} attached."


def _rollback(request: HtmxHttpRequest, incident: Incident) -> str:
    job = services.incident_rollback_start(incident=incident, user=request.user)
    return f"Queued {job}: follow its live output below."


def _validate(request: HtmxHttpRequest, incident: Incident) -> str:
    jobs = services.incident_validate(incident=incident, user=request.user)
    return "Validation: " + ", ".join(str(j) for j in jobs) + "."


def _note(request: HtmxHttpRequest, incident: Incident) -> str:
    form = forms.NoteForm(request.POST)
    services.incident_note(
        incident=incident, user=request.user, text=form.data.get("text", "") if form else ""
    )
    return "Status update posted."


def _close(request: HtmxHttpRequest, incident: Incident) -> str:
    services.incident_close(
        incident=incident, user=request.user, postmortem_url=request.POST.get("postmortem_url", "")
    )
    return "Incident closed."


ACTIONS: dict[str, Callable[[HtmxHttpRequest, Incident], str]] = {
    "maintenance-on": lambda r, i: _maintenance(r, i, True),
    "maintenance-off": lambda r, i: _maintenance(r, i, False),
    "assess": lambda r, i: _assess(r, i),
    "plan": _plan,
    "rollback": _rollback,
    "validate": _validate,
    "note": _note,
    "close": _close,
}


def _assess(request: HtmxHttpRequest, incident: Incident) -> str:
    services.incident_assess(
        incident=incident, user=request.user, error_text=request.POST.get("error_text", "")
    )
    return "Assessment recorded: the target's history was read now."


def _maintenance(request: HtmxHttpRequest, incident: Incident, on: bool) -> str:
    services.incident_maintenance(incident=incident, user=request.user, on=on)
    return f"Maintenance mode {'on' if on else 'off'}: see the timeline for the webhook's answer."


@routes.path("incidents/<int:pk>/<slug:action>", name="incident_action")
@require_POST
def incident_action(request: HtmxHttpRequest, pk: int, action: str) -> HttpResponse:
    incident = get_incident_for_user(request.user, pk)
    handler = ACTIONS.get(action)
    if handler is None:
        raise Http404("No such incident action.")
    require(request.user, Action.MANAGE_INCIDENTS, incident.project)
    if action in ("plan", "rollback"):
        require(request.user, Action.MANAGE_ROLLBACKS, incident.project)
    status, level = 200, messages.SUCCESS
    try:
        text = handler(request, incident)
    except ValidationError as e:
        text, status, level = error_text(e), 400, messages.ERROR
    if request.htmx:
        incident = get_incident_for_user(request.user, pk)
        context = _context(request, incident)
        context.update(notice=text, notice_level=messages.DEFAULT_TAGS[level])
        return render(request, f"{TEMPLATE}#incident_body", context, status=status)
    messages.add_message(request, level, text)
    return redirect("incident_detail", pk=incident.pk)
