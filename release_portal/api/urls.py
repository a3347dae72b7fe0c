"""Pages of the API feature (the JSON API itself is mounted from release_portal.urls)."""

from django.urls import path

from release_portal.api import pages

urlpatterns = [
    path("projects/<slug:slug>/tokens/", pages.project_tokens, name="project_tokens"),
    path(
        "projects/<slug:slug>/tokens/<int:pk>/revoke",
        pages.token_revoke_view,
        name="token_revoke",
    ),
]
