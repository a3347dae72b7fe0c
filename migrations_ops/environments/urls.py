from django.urls import path

from migrations_ops.environments import views

urlpatterns = [
    path(
        "projects/<slug:slug>/environments/",
        views.project_environments,
        name="project_environments",
    ),
]
