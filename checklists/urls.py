"""The checklists package's pages: releases here, then each feature's urlconf."""

from django.urls import include, path

from checklists import views

# One release's page and actions, under releases/<pk>/.
release_patterns = [
    path("", views.release_detail, name="release_detail"),
    path("revision", views.release_revision, name="release_revision"),
    path("files", views.release_files, name="release_files"),
    path("migrations", views.release_migrations, name="release_migrations"),
    path("migrations/<int:file_pk>/", views.migration_file, name="migration_file"),
    path("items/<int:item_pk>/tick", views.item_tick, name="item_tick"),
    path("items/<int:item_pk>/untick", views.item_untick, name="item_untick"),
    path(
        "items/<int:item_pk>/not-applicable",
        views.item_not_applicable,
        name="item_not_applicable",
    ),
    path("signoff", views.release_signoff, name="release_signoff"),
    path("cancel", views.release_cancel_view, name="release_cancel"),
]

urlpatterns = [
    path("releases/", views.release_list, name="release_list"),
    path("releases/new", views.release_new, name="release_new"),
    path("releases/<int:pk>/", include(release_patterns)),
    path("", include("checklists.changes.urls")),
    path("", include("checklists.reports.urls")),
    path("", include("checklists.runbooks.urls")),
    path("", include("checklists.deployments.urls")),
    path("", include("checklists.waivers.urls")),
]
