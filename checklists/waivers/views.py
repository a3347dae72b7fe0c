"""Waivers: the one way past a failed or missing check of an evidence-required item.

Asked for from the item on the release page (``POST /releases/<pk>/items/<item>/waivers``,
fields ``seen_digest``, ``reason``, ``not_applicable``), approved by a second person and
withdrawn from the waivers it lists. Each is a plain form POST that goes back to the
release page with a message; a waiver asked or approved for a release that changed since
the page was opened shows the page again, saying what changed (409).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from checklists.access import get_release_for_user
from checklists.models import ChecklistItem, Waiver
from checklists.services.errors import ChangedSinceOpened, ChecklistError
from checklists.services.waivers import waiver_approve, waiver_ask, waiver_revoke
from checklists.views import changed_since_page
from checklists.waivers.forms import WaiverApproveForm, WaiverAskForm, WaiverRevokeForm
from release_portal.http import HtmxHttpRequest, act, error_text
from release_portal.routes import Routes

routes = Routes()


@routes.path("releases/<int:pk>/items/<int:item_pk>/waivers", name="waiver_ask")
@require_POST
def waiver_ask_view(request: HtmxHttpRequest, pk: int, item_pk: int) -> HttpResponse:
    """Ask for a waiver of an evidence-required item's check (or to mark it not
    applicable): a second person approves it. Fields: seen_digest, reason, not_applicable."""
    release = get_release_for_user(request.user, pk)
    item = get_object_or_404(ChecklistItem, pk=item_pk, release=release)
    form = WaiverAskForm(request.POST)
    back = reverse("release_detail", kwargs={"pk": pk}) + f"#item-{item_pk}"
    if not form.is_valid():
        messages.error(request, "Say why, in a sentence (at least 10 characters).")
        return redirect(back)
    data = form.cleaned_data
    try:
        waiver_ask(
            item=item, user=request.user, reason=data["reason"],
            seen_digest=data["seen_digest"],
            kind=Waiver.Kind.NOT_APPLICABLE if data["not_applicable"] else Waiver.Kind.CHECK,
        )  # fmt: skip
    except ChangedSinceOpened as e:
        return changed_since_page(request, pk, e)
    except ChecklistError as e:
        messages.error(request, error_text(e))
    else:
        messages.success(request, "Waiver asked for. It counts once a second person approves it.")
    return redirect(back)


def _waiver(request: HtmxHttpRequest, pk: int, waiver_pk: int) -> Waiver:
    release = get_release_for_user(request.user, pk)
    return get_object_or_404(Waiver, pk=waiver_pk, release=release)


@routes.path("releases/<int:pk>/waivers/<int:waiver_pk>/approve", name="waiver_approve")
@require_POST
def waiver_approve_view(request: HtmxHttpRequest, pk: int, waiver_pk: int) -> HttpResponse:
    waiver = _waiver(request, pk, waiver_pk)
    form = WaiverApproveForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Reload the page: the form lacks the digest it was shown for.")
        return redirect("release_detail", pk=pk)
    try:
        waiver_approve(waiver=waiver, user=request.user, **form.cleaned_data)
    except ChangedSinceOpened as e:
        return changed_since_page(request, pk, e)
    except ChecklistError as e:
        messages.error(request, error_text(e))
    else:
        messages.success(request, "Waiver approved: the item is settled for these migrations.")
    return redirect(reverse("release_detail", kwargs={"pk": pk}) + f"#item-{waiver.item_id}")


@routes.path("releases/<int:pk>/waivers/<int:waiver_pk>/revoke", name="waiver_revoke")
@require_POST
def waiver_revoke_view(request: HtmxHttpRequest, pk: int, waiver_pk: int) -> HttpResponse:
    waiver = _waiver(request, pk, waiver_pk)
    form = WaiverRevokeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why the waiver is withdrawn.")
        return redirect("release_detail", pk=pk)
    return act(
        request,
        lambda: waiver_revoke(waiver=waiver, user=request.user, **form.cleaned_data),
        done="Waiver withdrawn.",
        back=redirect(reverse("release_detail", kwargs={"pk": pk}) + f"#item-{waiver.item_id}"),
        refusals=(ChecklistError,),
    )
