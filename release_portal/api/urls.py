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
    path("projects/<slug:slug>/freeze-windows/", pages.freeze_windows, name="freeze_windows"),
    path(
        "projects/<slug:slug>/freeze-windows/<int:pk>/delete",
        pages.freeze_window_delete_view,
        name="freeze_window_delete",
    ),
    path("releases/<int:pk>/gate", pages.release_gate_page, name="release_gate"),
    path("releases/<int:pk>/gate/break-glass", pages.break_glass, name="break_glass"),
    path(
        "releases/<int:pk>/gate/overrides/<int:override_pk>/resolve",
        pages.override_resolve,
        name="gate_override_resolve",
    ),
]
