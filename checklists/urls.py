"""The checklists package's pages: releases here, then each feature's urlconf."""

from django.urls import include, path

from checklists import views

urlpatterns = [
    path("releases/", views.release_list, name="release_list"),
    path("releases/new", views.release_new, name="release_new"),
    path("releases/<int:pk>/", views.release_detail, name="release_detail"),
    path("releases/<int:pk>/revision", views.release_revision, name="release_revision"),
    path("releases/<int:pk>/files", views.release_files, name="release_files"),
    path("releases/<int:pk>/migrations", views.release_migrations, name="release_migrations"),
    path(
        "releases/<int:pk>/migrations/<int:file_pk>/",
        views.migration_file,
        name="migration_file",
    ),
    path("releases/<int:pk>/items/<int:item_pk>/tick", views.item_tick, name="item_tick"),
    path("releases/<int:pk>/items/<int:item_pk>/untick", views.item_untick, name="item_untick"),
    path(
        "releases/<int:pk>/items/<int:item_pk>/not-applicable",
        views.item_not_applicable,
        name="item_not_applicable",
    ),
    path(
        "releases/<int:pk>/items/<int:item_pk>/waivers",
        views.waiver_ask_view,
        name="waiver_ask",
    ),
    path(
        "releases/<int:pk>/waivers/<int:waiver_pk>/approve",
        views.waiver_approve_view,
        name="waiver_approve",
    ),
    path(
        "releases/<int:pk>/waivers/<int:waiver_pk>/revoke",
        views.waiver_revoke_view,
        name="waiver_revoke",
    ),
    path("releases/<int:pk>/signoff", views.release_signoff, name="release_signoff"),
    path("releases/<int:pk>/cancel", views.release_cancel_view, name="release_cancel"),
    path("", include("checklists.changes.urls")),
    path("", include("checklists.reports.urls")),
    path("", include("checklists.runbooks.urls")),
    path("", include("checklists.deployments.urls")),
]
