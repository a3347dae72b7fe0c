"""Pages for platform leads: API tokens, freeze windows, and the gate with break-glass."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from checklists.access import get_release_for_user
from checklists.deployments.gate import gate_status, open_followups
from checklists.deployments.services import (
    freeze_window_create,
    freeze_window_delete,
    gate_break_glass,
    gate_override_resolve,
)
from checklists.models import FreezeWindow, GateOverride
from release_portal.accounts.access import get_project_for_user
from release_portal.accounts.roles import Action, ProjectAccess
from release_portal.api.forms import BreakGlassForm, FreezeWindowForm, ResolveForm, TokenForm
from release_portal.api.models import ApiToken
from release_portal.api.tokens import token_create, token_revoke


def _text(error: ValidationError) -> str:
    return " ".join(error.messages)


@require_http_methods(["GET", "POST"])
def project_tokens(request: HttpRequest, slug: str) -> HttpResponse:
    """List, create (the value is shown once, on this response only) and revoke tokens."""
    project = get_project_for_user(request.user, slug, Action.MANAGE_PROJECT)
    form = TokenForm(request.POST or None)
    new_value = ""
    if request.method == "POST" and form.is_valid():
        try:
            created = token_create(
                project=project, name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"], user=request.user,
            )  # fmt: skip
        except ValidationError as e:
            form.add_error("name", _text(e))
        else:
            new_value = created.value
            form = TokenForm()
    tokens = ApiToken.objects.filter(project=project).select_related("created_by", "revoked_by")
    response = render(
        request,
        "api/tokens.html",
        {
            "project": project,
            "access": ProjectAccess(request.user, project),
            "tokens": tokens.order_by("revoked_at", "-created_at"),
            "form": form,
            "new_value": new_value,
        },
        status=400 if form.errors else 200,
    )
    response["Cache-Control"] = "no-store"  # the new token's value must not be cached
    return response


@require_POST
def token_revoke_view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Action.MANAGE_PROJECT)
    token = get_object_or_404(ApiToken, pk=pk, project=project)
    try:
        token_revoke(token=token, user=request.user)
    except ValidationError as e:
        messages.error(request, _text(e))
    else:
        messages.success(request, f"Revoked {token.name}: CI using it now gets 401.")
    return redirect("project_tokens", slug=project.slug)


@require_http_methods(["GET", "POST"])
def freeze_windows(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Action.MANAGE_PROJECT)
    form = FreezeWindowForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            freeze_window_create(project=project, user=request.user, **form.cleaned_data)
        except ValidationError as e:
            form.add_error(None, _text(e))
        else:
            messages.success(request, "Freeze window set: the gate answers 409 during it.")
            return redirect("freeze_windows", slug=project.slug)
    now = timezone.now()
    windows = FreezeWindow.objects.filter(project=project).select_related("created_by")
    return render(
        request,
        "api/freeze_windows.html",
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


@require_POST
def freeze_window_delete_view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Action.MANAGE_PROJECT)
    window = get_object_or_404(FreezeWindow, pk=pk, project=project)
    freeze_window_delete(window=window, user=request.user)
    messages.success(request, "Freeze window removed.")
    return redirect("freeze_windows", slug=project.slug)


def _gate_page(request: HttpRequest, pk: int, **extra: object) -> HttpResponse:
    release = get_release_for_user(request.user, pk)
    context = {
        "release": release,
        "gate": gate_status(release),
        "followups": open_followups(release),
        "access": ProjectAccess(request.user, release.project),
        "break_glass_form": BreakGlassForm(),
        "resolve_form": ResolveForm(),
    }
    context.update(extra)
    status = 400 if any(getattr(f, "errors", None) for f in extra.values()) else 200
    return render(request, "api/gate.html", context, status=status)


@require_GET
def release_gate_page(request: HttpRequest, pk: int) -> HttpResponse:
    """The gate as CI sees it, the open break-glass follow-ups, and the break-glass form."""
    return _gate_page(request, pk)


@require_POST
def break_glass(request: HttpRequest, pk: int) -> HttpResponse:
    release = get_release_for_user(request.user, pk, Action.BREAK_GLASS)
    form = BreakGlassForm(request.POST)
    if form.is_valid():
        try:
            gate_break_glass(
                release=release, user=request.user, reason=form.cleaned_data["reason"],
                password=form.cleaned_data["password"],
            )  # fmt: skip
        except ValidationError as e:
            form.add_error(None, _text(e))
        else:
            messages.warning(
                request,
                "Glass broken: the gate is open for this digest. The follow-up stays open "
                "on the release until a platform lead resolves it.",
            )
            return redirect("release_gate", pk=release.pk)
    return _gate_page(request, pk, break_glass_form=form)


@require_POST
def override_resolve(request: HttpRequest, pk: int, override_pk: int) -> HttpResponse:
    release = get_release_for_user(request.user, pk, Action.BREAK_GLASS)
    override = get_object_or_404(GateOverride, pk=override_pk, release=release)
    form = ResolveForm(request.POST)
    if form.is_valid():
        try:
            gate_override_resolve(
                override=override, user=request.user, note=form.cleaned_data["note"]
            )
        except ValidationError as e:
            messages.error(request, _text(e))
        else:
            messages.success(request, "Follow-up resolved.")
    else:
        messages.error(request, "Write what was checked after the break-glass.")
    return redirect("release_gate", pk=release.pk)
