from django.urls import path

from migrations_ops.backups import views

urlpatterns = [
    path("backups/", views.backup_list, name="backup_list"),
    path("backups/<int:pk>/", views.backup_detail, name="backup_detail"),
    path("backups/<int:pk>/download", views.backup_download, name="backup_download"),
    path("backups/<int:pk>/verify", views.backup_verify_view, name="backup_verify"),
    path("backups/<int:pk>/delete", views.backup_delete_view, name="backup_delete"),
    path("backups/<int:pk>/snapshot", views.backup_snapshot_view, name="backup_snapshot"),
    path(
        "projects/<slug:slug>/backups/CHANGELOG.md",
        views.backup_changelog,
        name="backup_changelog",
    ),
    path("releases/<int:pk>/backups/capture", views.backup_capture_view, name="backup_capture"),
    path("releases/<int:pk>/backups/panel", views.release_backups_panel, name="backups_panel"),
]
