"""The API tokens page: platform leads create and revoke the tokens CI uses."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from release_portal.accounts.access import get_project_for_user
from release_portal.accounts.roles import Action, ProjectAccess
from release_portal.api.forms import TokenForm
from release_portal.api.models import ApiToken
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
    new_value = ""
    if request.method == "POST" and form.is_valid():
        try:
            created = token_create(
                project=project, name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"], user=request.user,
            )  # fmt: skip
        except ValidationError as e:
            form.add_error("name", error_text(e))
        else:
            new_value = created.value
            form = TokenForm()
    tokens = ApiToken.objects.filter(project=project).select_related("created_by", "revoked_by")
    response = render(
        request,
        "release_portal/api/tokens.html",
        {
            "project": project,
            "access": ProjectAccess(request.user, project),
            # Live tokens first, newest first; then the revoked ones, latest revoked first.
            # PostgreSQL sorts NULLs last in ascending order: said here, or a long history
            # of revoked tokens would push the live ones below it.
            "tokens": tokens.order_by(F("revoked_at").desc(nulls_first=True), "-created_at"),
            "form": form,
            "new_value": new_value,
        },
        status=400 if form.errors else 200,
    )
    response["Cache-Control"] = "no-store"  # the new token's value must not be cached
    return response


@routes.path("projects/<slug:slug>/tokens/<int:pk>/revoke", name="token_revoke")
@require_POST
def token_revoke_view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Action.MANAGE_PROJECT)
    token = get_object_or_404(ApiToken, pk=pk, project=project)
    return act(
        request,
        lambda: token_revoke(token=token, user=request.user),
        done=f"Revoked {token.name}: CI using it now gets 401.",
        back=redirect("project_tokens", slug=project.slug),
    )
