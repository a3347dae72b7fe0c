from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from release_portal.accounts.access import get_project_for_user
from release_portal.accounts.forms import InviteForm, RoleForm
from release_portal.accounts.models import Membership
from release_portal.accounts.roles import Action, ProjectAccess, Role
from release_portal.accounts.services import (
    invitation_resend,
    invitation_revoke,
    member_invite,
    membership_change_role,
    membership_remove,
    pending_invitations,
)
from release_portal.http import act
from release_portal.routes import Routes

routes = Routes()


@routes.path("projects/<slug:slug>/members/", name="project_members")
@require_http_methods(["GET", "POST"])
def project_members(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Action.MANAGE_MEMBERS)
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            member_invite(
                project=project,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                invited_by=request.user,
                base_url=request.build_absolute_uri("/"),
            )
        except ValidationError as e:
            form.add_error("email", e)
        else:
            messages.success(request, f"Invited {form.cleaned_data['email']}.")
            return redirect("project_members", slug=project.slug)
    members = (
        Membership.objects.filter(project=project)
        .select_related("user")
        .order_by("user__username", "role")
    )
    return render(
        request,
        "release_portal/accounts/members.html",
        {
            "project": project,
            "access": ProjectAccess(request.user, project),
            "members": members,
            "roles": Role.choices,
            "pending": pending_invitations(project),
            "form": form,
        },
        status=400 if form.errors else 200,
    )


@routes.path("projects/<slug:slug>/members/<int:pk>/delete", name="membership_delete")
@require_POST
def membership_delete(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Action.MANAGE_MEMBERS)
    membership = get_object_or_404(Membership, pk=pk, project=project)
    return act(
        request,
        lambda: membership_remove(membership=membership, removed_by=request.user),
        done=f"Removed {membership.user} as {membership.get_role_display()}.",
        back=redirect("project_members", slug=project.slug),
    )


@routes.path("projects/<slug:slug>/members/<int:pk>/role", name="membership_role")
@require_POST
def membership_role(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """A platform lead gives a member another role (never their own)."""
    project = get_project_for_user(request.user, slug, Action.MANAGE_MEMBERS)
    membership = get_object_or_404(
        Membership.objects.select_related("user"), pk=pk, project=project
    )
    back = redirect("project_members", slug=project.slug)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the roles.")
        return back
    before = membership.get_role_display()
    return act(
        request,
        lambda: membership_change_role(
            membership=membership, role=form.cleaned_data["role"], changed_by=request.user
        ),
        done=lambda changed: (
            f"{changed.user.get_username()} is now {changed.get_role_display()} (was {before})."
        ),
        back=back,
    )


@routes.path("projects/<slug:slug>/invitations/<int:user_id>/resend", name="invitation_resend")
@require_POST
def invitation_resend_view(request: HttpRequest, slug: str, user_id: int) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Action.MANAGE_MEMBERS)
    return act(
        request,
        lambda: invitation_resend(
            project=project,
            user_id=user_id,
            by=request.user,
            base_url=request.build_absolute_uri("/"),
        ),
        done="Invitation sent again, with a fresh link.",
        back=redirect("project_members", slug=project.slug),
    )


@routes.path("projects/<slug:slug>/invitations/<int:user_id>/revoke", name="invitation_revoke")
@require_POST
def invitation_revoke_view(request: HttpRequest, slug: str, user_id: int) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Action.MANAGE_MEMBERS)
    return act(
        request,
        lambda: invitation_revoke(project=project, user_id=user_id, by=request.user),
        done=lambda user: f"Revoked the invitation of {user.email or user.get_username()}.",
        back=redirect("project_members", slug=project.slug),
    )
