from django.urls import path

from migrations_ops.projects import views

urlpatterns = [
    path("operators/projects/new", views.operator_project_new, name="operator_project_new"),
    path("projects/<slug:slug>/settings/", views.project_settings, name="project_settings"),
    path("projects/<slug:slug>/settings/targets/", views.target_new, name="target_new"),
    path("projects/<slug:slug>/settings/targets/<int:pk>/", views.target_edit, name="target_edit"),
    path(
        "projects/<slug:slug>/settings/targets/<int:pk>/delete",
        views.target_remove,
        name="target_remove",
    ),
    path(
        "projects/<slug:slug>/settings/targets/<int:pk>/test",
        views.target_test,
        name="target_test",
    ),
]
