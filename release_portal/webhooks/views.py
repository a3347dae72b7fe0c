"""A project's webhooks page: platform leads manage them; everyone else gets 403, and
other projects 404. A new or rotated secret is shown once, in the answer to that POST."""

from __future__ import annotations

from collections.abc import Callable
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
from release_portal.routes import Routes
from release_portal.webhooks import selectors, services
from release_portal.webhooks.forms import WebhookForm
from release_portal.webhooks.models import Webhook, WebhookDelivery
from release_portal.webhooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER

routes = Routes()

LIST = "release_portal/webhooks/webhooks.html"
EDIT = "release_portal/webhooks/webhook_edit.html"


def _project(request: HtmxHttpRequest, slug: str) -> Any:
    return get_project_for_user(request.user, slug, Action.MANAGE_PROJECT)


def _webhook(project: Any, pk: int) -> Webhook:
    return get_object_or_404(Webhook.objects.select_related("project"), pk=pk, project=project)


def _scheme() -> dict[str, str]:
    return {"signature_header": SIGNATURE_HEADER, "timestamp_header": TIMESTAMP_HEADER}


def _submitted(
    request: HtmxHttpRequest, save: Callable[[dict[str, Any]], Webhook]
) -> tuple[WebhookForm | None, Webhook | None]:
    """On a POST, the form made of it and the webhook ``save`` made of the form's data, or
    None when the form or the service refused it (the form then carries why). On a GET,
    neither: the page shows its usual form."""
    if request.method != "POST":
        return None, None
    form = WebhookForm(request.POST)
    if not form.is_valid():
        return form, None
    try:
        return form, save(form.cleaned_data)
    except ValidationError as e:
        form.add_error(None, e)
        return form, None


def _page(
    request: HtmxHttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    log: list[WebhookDelivery],
    status: int = 200,
) -> HttpResponse:
    """A webhooks page (the list, or one webhook's) with its delivery log; only the log
    when htmx refreshes it (``?fragment=log``)."""
    context = {**context, "log": log, **_scheme()}
    if request.htmx and request.GET.get("fragment") == "log":
        return render(request, f"{LIST}#delivery_log", context)
    return render(request, template, context, status=status)


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
    }
    return _page(request, LIST, context, log=selectors.delivery_log(project=project), status=status)


@routes.path("projects/<slug:slug>/webhooks/", name="webhooks")
@never_cache
@require_http_methods(["GET", "POST"])
def webhooks_page(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    project = _project(request, slug)
    form, created = _submitted(
        request, lambda data: services.webhook_create(project=project, user=request.user, **data)
    )
    if created is not None:
        return _list_page(request, project, created=created, status=201)
    return _list_page(request, project, form=form, status=200 if form is None else 400)


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
    }
    return _page(request, EDIT, context, log=selectors.delivery_log(webhook=webhook), status=status)


@routes.path("projects/<slug:slug>/webhooks/<int:pk>/", name="webhook_edit")
@never_cache
@require_http_methods(["GET", "POST"])
def webhook_edit(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    project = _project(request, slug)
    webhook = _webhook(project, pk)
    form, saved = _submitted(
        request, lambda data: services.webhook_update(webhook=webhook, user=request.user, **data)
    )
    if saved is None:
        return _edit_page(request, webhook, form=form, status=200 if form is None else 400)
    messages.success(request, f"Saved the webhook {saved.name}.")
    return redirect("webhook_edit", slug=project.slug, pk=webhook.pk)


@routes.path("projects/<slug:slug>/webhooks/<int:pk>/rotate", name="webhook_rotate")
@never_cache
@require_POST
def webhook_rotate(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    webhook = _webhook(_project(request, slug), pk)
    webhook = services.webhook_rotate_secret(webhook=webhook, user=request.user)
    return _edit_page(request, webhook, rotated=True)


@routes.path("projects/<slug:slug>/webhooks/<int:pk>/delete", name="webhook_delete")
@require_POST
def webhook_delete(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    project = _project(request, slug)
    webhook = _webhook(project, pk)
    name = webhook.name
    services.webhook_delete(webhook=webhook, user=request.user)
    messages.success(request, f"Deleted the webhook {name}.")
    return redirect("webhooks", slug=project.slug)


@routes.path("projects/<slug:slug>/webhooks/<int:pk>/ping", name="webhook_ping")
@require_POST
def webhook_ping(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    project = _project(request, slug)
    webhook = _webhook(project, pk)
    services.webhook_ping(webhook=webhook, user=request.user)
    messages.info(request, f"A test message to {webhook.name} is on its way: see the log below.")
    return redirect("webhook_edit", slug=project.slug, pk=webhook.pk)
