"""The release's owner page: a platform lead names another owner, with a reason.

``GET /releases/<pk>/owner`` shows who owns the release, whether they signed, and the
project's platform leads and release engineers to choose from; ``POST`` (fields
``owner``, ``reason``) names the chosen one and goes back to the release page, where the
previous owner's final sign-off now reads stale. Its own page, not a form on the release
page: the choices cost a query that the release page does not pay for everyone.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from checklists.access import get_release_for_user
from checklists.models import Release, SignOff
from checklists.rules import OPEN_FOR_CHANGES
from checklists.services.errors import ChecklistError
from checklists.services.releases import owner_candidates, release_change_owner
from release_portal.accounts.roles import Action
from release_portal.http import HtmxHttpRequest, error_text
from release_portal.routes import Routes

routes = Routes()


class OwnerForm(forms.Form):
    owner = forms.TypedChoiceField(label="New owner", coerce=int)
    reason = forms.CharField(
        label="Why?", max_length=500, widget=forms.TextInput,
        help_text="Goes into the change log (e.g. “Ana is on leave until the 20th”).",
    )  # fmt: skip

    def __init__(self, *args: Any, candidates: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.candidates = {user.pk: user for user in candidates}
        field = self.fields["owner"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [(pk, user.get_username()) for pk, user in self.candidates.items()]


@routes.path("releases/<int:pk>/owner", name="release_owner")
@require_http_methods(["GET", "POST"])
def release_owner(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    release = get_release_for_user(request.user, pk, Action.MANAGE_PROJECT)
    candidates = owner_candidates(release)
    form = OwnerForm(request.POST or None, candidates=candidates)
    if request.method == "POST" and form.is_valid():
        new_owner = form.candidates[form.cleaned_data["owner"]]
        try:
            stale = release_change_owner(
                release=release, user=request.user, new_owner=new_owner,
                reason=form.cleaned_data["reason"],
            )  # fmt: skip
        except ChecklistError as e:
            form.add_error(None, error_text(e))
        else:
            said = f"{new_owner.get_username()} now owns this release and gives its final sign-off."
            if stale:
                said += " The previous owner's sign-off is stale."
            messages.success(request, said)
            return redirect("release_detail", pk=pk)
    return render(
        request,
        "checklists/owners/change.html",
        {
            "release": release,
            "form": form,
            "open": release.state in OPEN_FOR_CHANGES,
            "signed": _signed(release),
        },
        status=400 if form.errors else 200,
    )


def _signed(release: Release) -> bool:
    """The current owner's final sign-off is given and not stale."""
    owners = release.signoffs.filter(kind=SignOff.Kind.RELEASE_OWNER, stale_at__isnull=True)
    return owners.exists()
