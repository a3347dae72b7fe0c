"""A project's webhooks page: platform leads manage them; everyone else gets 403, and
other projects 404. A new or rotated secret is shown once, in the answer to that POST."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from release_portal.accounts.access import get_project_for_user
from release_portal.accounts.roles import Action
from release_portal.http import HtmxHttpRequest
from release_portal.webhooks import selectors, services
from release_portal.webhooks.forms import WebhookForm
from release_portal.webhooks.models import Webhook
from release_portal.webhooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER

LIST = "release_portal/webhooks/webhooks.html"
EDIT = "release_portal/webhooks/webhook_edit.html"


def _project(request: HtmxHttpRequest, slug: str) -> Any:
    return get_project_for_user(request.user, slug, Action.MANAGE_PROJECT)


def _webhook(project: Any, pk: int) -> Webhook:
    return get_object_or_404(Webhook.objects.select_related("project"), pk=pk, project=project)


def _scheme() -> dict[str, str]:
    return {"signature_header": SIGNATURE_HEADER, "timestamp_header": TIMESTAMP_HEADER}


def _list_page(
    request: HtmxHttpRequest,
    project: Any,
    *,
    form: WebhookForm | None = None,
    created: Webhook | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "project": project,
        "webhooks": selectors.project_webhooks(project),
        "form": form or WebhookForm(),
        "created": created,
        "log": selectors.delivery_log(project=project),
        **_scheme(),
    }
    if request.htmx and request.GET.get("fragment") == "log":
        return render(request, f"{LIST}#delivery_log", context)
    return render(request, LIST, context, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def webhooks_page(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    project = _project(request, slug)
    if request.method != "POST":
        return _list_page(request, project)
    form = WebhookForm(request.POST)
    if form.is_valid():
        try:
            webhook = services.webhook_create(
                project=project, user=request.user, **form.cleaned_data
            )
        except ValidationError as e:
            form.add_error(None, e)
        else:
            return _list_page(request, project, created=webhook, status=201)
    return _list_page(request, project, form=form, status=400)


def _edit_page(
    request: HtmxHttpRequest,
    webhook: Webhook,
    *,
    form: WebhookForm | None = None,
    rotated: bool = False,
    status: int = 200,
) -> HttpResponse:
    context = {
        "project": webhook.project,
        "webhook": webhook,
        "form": form or WebhookForm(initial=WebhookForm.initial_for(webhook)),
        "rotated": rotated,
        "log": selectors.delivery_log(webhook=webhook),
        **_scheme(),
    }
    if request.htmx and request.GET.get("fragment") == "log":
        return render(request, f"{LIST}#delivery_log", context)
    return render(request, EDIT, context, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def webhook_edit(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    project = _project(request, slug)
    webhook = _webhook(project, pk)
    if request.method != "POST":
        return _edit_page(request, webhook)
    form = WebhookForm(request.POST)
    if form.is_valid():
        try:
            services.webhook_update(webhook=webhook, user=request.user, **form.cleaned_data)
        except ValidationError as e:
            form.add_error(None, e)
        else:
            messages.success(request, f"Saved the webhook {form.cleaned_data['name']}.")
            return redirect("webhook_edit", slug=project.slug, pk=webhook.pk)
    return _edit_page(request, webhook, form=form, status=400)


@never_cache
@require_POST
def webhook_rotate(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    webhook = _webhook(_project(request, slug), pk)
    webhook = services.webhook_rotate_secret(webhook=webhook, user=request.user)
    return _edit_page(request, webhook, rotated=True)


@require_POST
def webhook_delete(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    project = _project(request, slug)
    webhook = _webhook(project, pk)
    name = webhook.name
    services.webhook_delete(webhook=webhook, user=request.user)
    messages.success(request, f"Deleted the webhook {name}.")
    return redirect("webhooks", slug=project.slug)


@require_POST
def webhook_ping(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    project = _project(request, slug)
    webhook = _webhook(project, pk)
    services.webhook_ping(webhook=webhook, user=request.user)
    messages.info(request, f"A test message to {webhook.name} is on its way: see the log below.")
    return redirect("webhook_edit", slug=project.slug, pk=webhook.pk)
