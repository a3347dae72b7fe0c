"""The API tokens page: platform leads create and revoke the tokens CI uses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from migrations_ops.models import Project
from release_portal.accounts.access import get_project_for_user
from release_portal.accounts.models import Membership
from release_portal.accounts.roles import Action, ProjectAccess
from release_portal.api.forms import TokenForm
from release_portal.api.models import ApiToken, ExpiryMail, TokenState
from release_portal.api.tokens import token_create, token_revoke
from release_portal.http import act, error_text
from release_portal.routes import Routes

routes = Routes()


@routes.path("projects/<slug:slug>/tokens/", name="project_tokens")
@require_http_methods(["GET", "POST"])
def project_tokens(request: HttpRequest, slug: str) -> HttpResponse:
    """List, create (the value is shown once, on this response only) and revoke tokens."""
    project = get_project_for_user(request.user, slug, Action.MANAGE_PROJECT)
    form = TokenForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            created = token_create(
                project=project, name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"], user=request.user,
                lifetime=form.cleaned_data["lifetime"],
            )  # fmt: skip
        except ValidationError as e:
            form.add_error("name", error_text(e))
        else:
            form = TokenForm()
    response = render(
        request,
        "release_portal/api/tokens.html",
        {
            "project": project,
            "access": ProjectAccess(request.user, project),
            "tokens": _listed(project, timezone.now()),
            "form": form,
            "new_value": created.value if created else "",
            "new_token": created.token if created else None,
        },
        status=400 if form.errors else 200,
    )
    response["Cache-Control"] = "no-store"  # the new token's value must not be cached
    return response


# The page's groups, in order, each with the time its rows are sorted by (latest first):
# live tokens by creation, expired ones by expiry, revoked ones by revocation. A lead
# comes for the tokens CI uses now; a long history must not push them down.
_GROUPS = {
    TokenState.LIVE: "created_at",
    TokenState.EXPIRED: "expires_at",
    TokenState.REVOKED: "revoked_at",
}


def _listed(project: Project, now: datetime) -> list[ApiToken]:
    """The project's tokens in the page's order, each with its ``state`` and whether it
    ``expires_soon`` at ``now`` (one ``now`` for the order and the labels)."""
    groups = list(_GROUPS)
    # The leads' mails not sent (yet: pending ones are tried again), as ``mails_unsent``,
    # in one query for all the tokens.
    unsent = ExpiryMail.objects.exclude(state=ExpiryMail.State.SENT).order_by("email")
    # A token outlives its creator's lead role only if it was made before the portal
    # revoked such tokens (api.creators): the page says so, for a lead to revoke it.
    creator_leads = Membership.objects.active_leads().filter(
        user_id=OuterRef("created_by_id"), project_id=project.pk
    )
    tokens = list(
        ApiToken.objects.filter(project=project)
        .annotate(creator_leads=Exists(creator_leads))
        .select_related("created_by", "revoked_by")
        .prefetch_related(Prefetch("expiry_mails", queryset=unsent, to_attr="mails_unsent"))
    )
    # A live token's unsent mails say it expires soon; a revoked one's, why it was revoked.
    shown = {TokenState.LIVE: ExpiryMail.Kind.EXPIRING, TokenState.REVOKED: ExpiryMail.Kind.REVOKED}
    for t in tokens:
        state = t.state_at(now)
        t.state = state  # type: ignore[attr-defined]
        t.creator_gone = state == TokenState.LIVE and not t.creator_leads  # type: ignore[attr-defined]
        t.expires_soon = t.expires_soon_at(now)  # type: ignore[attr-defined]
        mails = t.mails_unsent
        t.mails_unsent = [m for m in mails if m.kind == shown.get(state)]

    def place(t: Any) -> tuple[int, float, int]:
        return groups.index(t.state), -getattr(t, _GROUPS[t.state]).timestamp(), -t.pk

    return sorted(tokens, key=place)


@routes.path("projects/<slug:slug>/tokens/<int:pk>/revoke", name="token_revoke")
@require_POST
def token_revoke_view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Action.MANAGE_PROJECT)
    token = get_object_or_404(ApiToken, pk=pk, project=project)
    expired = token.state_at(timezone.now()) == TokenState.EXPIRED
    return act(
        request,
        lambda: token_revoke(token=token, user=request.user),
        done=(
            f"Revoked {token.name}, which had expired: its name is free for a new token."
            if expired
            else f"Revoked {token.name}: CI using it now gets 401."
        ),
        back=redirect("project_tokens", slug=project.slug),
    )
