"""Rollback pages: plans and rehearsals per target, preparing a plan, rehearsing it.

Everyone in the project reads saved plans; SREs and platform leads prepare and rehearse
them (403); other projects 404. Preparing a plan reads the target's migration history
live (10 s timeout), so only those who may save one can ask for it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from checklists.access import get_release_for_user
from migrations_ops.jobs.present import job_queued_message
from migrations_ops.models import Job, RollbackPlan
from migrations_ops.rollback import services
from migrations_ops.rollback.forms import PlanForm, RollbackFilterForm
from release_portal.accounts.access import get_for_user, require
from release_portal.accounts.roles import Action, ProjectAccess, visible_project_ids
from release_portal.http import HtmxHttpRequest, error_text, paged, render_page
from release_portal.routes import Routes

routes = Routes()


def get_plan_for_user(user: Any, pk: int, action: Action | None = None) -> RollbackPlan:
    queryset = RollbackPlan.objects.select_related(
        "project", "release", "target", "backup", "rehearsal_job"
    )
    return get_for_user(user, queryset, what="rollback plan", action=action, pk=pk)


@routes.path("rollbacks/", name="rollback_list")
@require_GET
def rollback_list(request: HtmxHttpRequest) -> HttpResponse:
    form = RollbackFilterForm(request.GET or None, project_ids=visible_project_ids(request.user))
    rows = RollbackPlan.objects.filter(
        project__in=visible_project_ids(request.user)
    ).select_related("project", "release", "target", "backup", "rehearsal_job")
    rows = form.apply(rows, date_field="created_at", state_field="rehearsal_state")
    context = {"form": form, **paged(request, rows.order_by("-created_at", "-pk"))}
    return render_page(request, "migrations_ops/rollback/list.html", "plan_rows", context)


@routes.path("rollbacks/<int:pk>/", name="rollback_detail")
@require_GET
def rollback_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    plan = get_plan_for_user(request.user, pk)
    jobs = Job.objects.filter(
        kind__in=[Job.Kind.REHEARSAL, Job.Kind.ROLLBACK], params__plan_id=plan.pk
    ).order_by("-created_at")[:20]
    context = {
        "plan": plan,
        "access": ProjectAccess(request.user, plan.project),
        "jobs": jobs,
        "preamble": f'export DB_URL="${plan.target.url_env_var}"',
    }
    return render(request, "migrations_ops/rollback/detail.html", context)


@routes.path("rollbacks/<int:pk>/rehearse", name="rollback_rehearse")
@require_POST
def rollback_rehearse(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    plan = get_plan_for_user(request.user, pk, Action.MANAGE_ROLLBACKS)
    try:
        job = services.rehearsal_start(plan=plan, user=request.user)
    except ValidationError as e:
        messages.error(request, error_text(e))
        return redirect("rollback_detail", pk=plan.pk)
    job_queued_message(request, job, f"Queued {job}: the plan is tried on a restored copy.")
    return redirect("job_detail", pk=job.pk)


@routes.path("releases/<int:pk>/rollback/", name="rollback_plan_new")
@require_http_methods(["GET", "POST"])
def rollback_plan_new(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """GET: the plan worked out from the target's history now. POST: save it.

    Both are for those who prepare plans (SREs, platform leads): working one out connects
    the web process to the target (production) with its credentials, which a reader's
    request must not do; readers read saved plans (``rollback_detail``)."""
    release = get_release_for_user(request.user, pk)
    require(request.user, Action.MANAGE_ROLLBACKS, release.project)
    if request.method == "POST":
        form = PlanForm(request.POST, project=release.project)
        if form.is_valid():
            try:
                plan = services.rollback_plan_save(
                    release=release, target=form.cleaned_data["target"], user=request.user,
                    backup_id=form.cleaned_data.get("backup"),
                )  # fmt: skip
            except ValidationError as e:
                messages.error(request, error_text(e))
            else:
                messages.success(request, f"Saved rollback plan #{plan.pk}: rehearse it next.")
                return redirect("rollback_detail", pk=plan.pk)
    else:
        form = PlanForm(request.GET or None, project=release.project)
    context: dict[str, Any] = {
        "release": release,
        "form": form,
        "access": ProjectAccess(request.user, release.project),
    }
    if form.is_bound and form.is_valid():
        target = form.cleaned_data["target"]
        try:
            history = services.read_target_history(target)
            worked_out, backups = services.plan_for(
                release=release, target=target, applied=history,
                backup_id=form.cleaned_data.get("backup"),
            )  # fmt: skip
        except ValidationError as e:
            context["error"] = error_text(e)
        else:
            context.update(plan=worked_out, backups=backups, target=target)
    status = 400 if request.method == "POST" else 200
    return render(request, "migrations_ops/rollback/new.html", context, status=status)
