from django.urls import path

from release_portal.accounts import views

urlpatterns = [
    path("projects/<slug:slug>/members/", views.project_members, name="project_members"),
    path(
        "projects/<slug:slug>/members/<int:pk>/delete",
        views.membership_delete,
        name="membership_delete",
    ),
]
