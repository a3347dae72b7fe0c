from django.urls import path

from checklists.deployments import views

urlpatterns = [
    path("releases/<int:pk>/apply", views.release_apply, name="release_apply"),
    path("projects/<slug:slug>/freeze-windows/", views.freeze_windows, name="freeze_windows"),
    path(
        "projects/<slug:slug>/freeze-windows/<int:pk>/delete",
        views.freeze_window_delete_view,
        name="freeze_window_delete",
    ),
    path("releases/<int:pk>/gate", views.release_gate_page, name="release_gate"),
    path("releases/<int:pk>/gate/break-glass", views.break_glass, name="break_glass"),
    path(
        "releases/<int:pk>/gate/overrides/<int:override_pk>/confirm",
        views.override_confirm,
        name="gate_override_confirm",
    ),
    path(
        "releases/<int:pk>/gate/overrides/<int:override_pk>/resolve",
        views.override_resolve,
        name="gate_override_resolve",
    ),
]
