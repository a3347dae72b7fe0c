"""The checklists package's pages: the releases' own (declared beside their views with
``@routes.path``), then each feature's urlconf."""

from django.urls import include, path

from checklists import views

urlpatterns = [
    *views.routes.urlpatterns,
    path("", include("checklists.changes.urls")),
    path("", include("checklists.reports.urls")),
    path("", include("checklists.runbooks.urls")),
    path("", include("checklists.deployments.urls")),
    path("", include("checklists.waivers.urls")),
    path("", include("checklists.owners.urls")),
]
