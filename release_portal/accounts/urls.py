from django.urls import path

from release_portal.accounts import views

urlpatterns = [
    path("projects/<slug:slug>/members/", views.project_members, name="project_members"),
    path(
        "projects/<slug:slug>/members/<int:pk>/delete",
        views.membership_delete,
        name="membership_delete",
    ),
    path(
        "projects/<slug:slug>/members/<int:pk>/role", views.membership_role, name="membership_role"
    ),
    path(
        "projects/<slug:slug>/invitations/<int:user_id>/resend",
        views.invitation_resend_view,
        name="invitation_resend",
    ),
    path(
        "projects/<slug:slug>/invitations/<int:user_id>/revoke",
        views.invitation_revoke_view,
        name="invitation_revoke",
    ),
]
