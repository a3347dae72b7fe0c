"""Deployment pages: the gate with break-glass, freeze windows, and applying migrations.

``POST /releases/<pk>/apply`` starts an apply job from the release page. Form fields:
``target`` (a Target's id in the release's project), optional ``include_all`` ("on"
applies files older than the newest applied one, like ``--include-all``). Needs DEPLOY
(403 otherwise; 404 for other projects). Production is refused while the release gate is
closed, with the gate's reasons as the message. Without htmx it redirects to the job's
page (or back to the release with the refusal).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from checklists import rules
from checklists.access import get_release_for_user
from checklists.deployments.apply import apply_start
from checklists.deployments.forms import BreakGlassForm, ConfirmForm, FreezeWindowForm, ResolveForm
from checklists.deployments.gate import gate_status, open_followups
from checklists.deployments.models import FreezeWindow, GateOverride
from checklists.deployments.services import (
    freeze_window_create,
    freeze_window_delete,
    gate_break_glass,
    gate_override_confirm,
    gate_override_resolve,
)
from checklists.models import Release
from migrations_ops.models import Project, Target
from migrations_ops.projects.forms import TargetChoiceField, field_problem
from release_portal.accounts.access import get_project_for_user
from release_portal.accounts.roles import Action, ProjectAccess
from release_portal.http import HtmxHttpRequest, act, error_text
from release_portal.routes import Routes

routes = Routes()


class ApplyForm(forms.Form):
    target = TargetChoiceField(empty_label=None)
    include_all = forms.BooleanField(
        required=False, label="Include files older than the newest applied (--include-all)"
    )

    def __init__(self, data: Any = None, *, project: Project, **kwargs: Any) -> None:
        # Its own ids: the release page holds other forms with a "target" field.
        kwargs.setdefault("auto_id", "apply-%s")
        super().__init__(data, **kwargs)
        field = self.fields["target"]
        assert isinstance(field, TargetChoiceField)
        field.queryset = Target.objects.filter(project=project)


@routes.path("releases/<int:pk>/apply", name="release_apply")
@require_POST
def release_apply(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    release = get_release_for_user(request.user, pk, Action.DEPLOY)
    form = ApplyForm(request.POST, project=release.project)
    if not form.is_valid():
        problem = field_problem(form, "target", "Choose one of the project's targets to apply to.")
        messages.error(request, problem)
        return redirect("release_detail", pk=release.pk)
    target = form.cleaned_data["target"]
    try:
        job = apply_start(
            release=release,
            target=target,
            user=request.user,
            include_all=form.cleaned_data["include_all"],
        )
    except ValidationError as e:
        messages.error(request, error_text(e))
        return redirect("release_detail", pk=release.pk)
    if job.already_active:
        messages.info(request, f"Already applying to {target.name}: {job}.")
    else:
        messages.success(request, f"Applying the pending migrations to {target.name}: {job}.")
    return redirect("job_detail", pk=job.pk)


@routes.path("projects/<slug:slug>/freeze-windows/", name="freeze_windows")
@require_http_methods(["GET", "POST"])
def freeze_windows(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Action.MANAGE_PROJECT)
    form = FreezeWindowForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            freeze_window_create(project=project, user=request.user, **form.cleaned_data)
        except ValidationError as e:
            form.add_error(None, error_text(e))
        else:
            messages.success(request, "Freeze window set: the gate answers 409 during it.")
            return redirect("freeze_windows", slug=project.slug)
    now = timezone.now()
    windows = FreezeWindow.objects.filter(project=project).select_related("created_by")
    return render(
        request,
        "checklists/deployments/freeze_windows.html",
        {
            "project": project,
            "access": ProjectAccess(request.user, project),
            "form": form,
            "upcoming": windows.filter(ends_at__gt=now).order_by("starts_at"),
            "past": windows.filter(ends_at__lte=now).order_by("-ends_at")[:20],
            "now": now,
        },
        status=400 if form.errors else 200,
    )


@routes.path("projects/<slug:slug>/freeze-windows/<int:pk>/delete", name="freeze_window_delete")
@require_POST
def freeze_window_delete_view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Action.MANAGE_PROJECT)
    window = get_object_or_404(FreezeWindow, pk=pk, project=project)
    freeze_window_delete(window=window, user=request.user)
    messages.success(request, "Freeze window removed.")
    return redirect("freeze_windows", slug=project.slug)


def _gate_page(request: HttpRequest, pk: int, **extra: object) -> HttpResponse:
    release = get_release_for_user(request.user, pk)
    gate = gate_status(release)
    context = {
        "release": release,
        "gate": gate,
        "followups": open_followups(release),
        # A break-glass waiting for a second lead in a project that has one lead waits
        # forever: the page says so and what the lead can do instead.
        "lone_lead": gate.override_unconfirmed is not None and rules.single_platform_lead(release),
        "access": ProjectAccess(request.user, release.project),
        "break_glass_form": BreakGlassForm(initial={"seen_digest": release.digest}),
        "resolve_form": ResolveForm(),
        "confirm_form": ConfirmForm(initial={"seen_digest": release.digest}),
    }
    context.update(extra)
    status = 400 if any(getattr(f, "errors", None) for f in extra.values()) else 200
    return render(request, "checklists/deployments/gate.html", context, status=status)


@routes.path("releases/<int:pk>/gate", name="release_gate")
@require_GET
def release_gate_page(request: HttpRequest, pk: int) -> HttpResponse:
    """The gate as CI sees it, the open break-glass follow-ups, and the break-glass form."""
    return _gate_page(request, pk)


@routes.path("releases/<int:pk>/gate/break-glass", name="break_glass")
@require_POST
def break_glass(request: HttpRequest, pk: int) -> HttpResponse:
    release = get_release_for_user(request.user, pk, Action.BREAK_GLASS)
    form = BreakGlassForm(request.POST)
    if form.is_valid():
        try:
            gate_break_glass(release=release, user=request.user, **form.cleaned_data)
        except ValidationError as e:
            form.add_error(None, error_text(e))
            # Shown again for the release as it is now: the person has just been told
            # what changed.
            data = request.POST.copy()
            data["seen_digest"] = Release.objects.get(pk=release.pk).digest
            form.data = data
        else:
            if release.project.break_glass_needs_second_lead:
                text = ("Glass broken for this digest: it opens the gate once a second platform "
                        "lead confirms it on this page.")  # fmt: skip
            else:
                text = "Glass broken: the gate is open for this digest."
            messages.warning(
                request,
                text + " The follow-up stays open on the release until a platform lead "
                "resolves it.",
            )
            return redirect("release_gate", pk=release.pk)
    return _gate_page(request, pk, break_glass_form=form)


def _override(request: HttpRequest, pk: int, override_pk: int) -> GateOverride:
    """A break-glass of the release, for a person who may break glass there (else 403/404)."""
    release = get_release_for_user(request.user, pk, Action.BREAK_GLASS)
    return get_object_or_404(GateOverride, pk=override_pk, release=release)


@routes.path(
    "releases/<int:pk>/gate/overrides/<int:override_pk>/confirm", name="gate_override_confirm"
)
@require_POST
def override_confirm(request: HttpRequest, pk: int, override_pk: int) -> HttpResponse:
    override = _override(request, pk, override_pk)
    form = ConfirmForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Reload the page: the form lacks the digest it was shown for.")
        return redirect("release_gate", pk=pk)
    return act(
        request,
        lambda: gate_override_confirm(override=override, user=request.user, **form.cleaned_data),
        done="Break-glass confirmed: the gate is open for this digest.",
        back=redirect("release_gate", pk=pk),
        level=messages.WARNING,
    )


@routes.path(
    "releases/<int:pk>/gate/overrides/<int:override_pk>/resolve", name="gate_override_resolve"
)
@require_POST
def override_resolve(request: HttpRequest, pk: int, override_pk: int) -> HttpResponse:
    override = _override(request, pk, override_pk)
    form = ResolveForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Write what was checked after the break-glass.")
        return redirect("release_gate", pk=pk)
    return act(
        request,
        lambda: gate_override_resolve(override=override, user=request.user, **form.cleaned_data),
        done="Follow-up resolved.",
        back=redirect("release_gate", pk=pk),
    )
