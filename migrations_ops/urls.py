"""The migrations_ops package's pages: one urlconf per feature."""

from django.urls import include, path

urlpatterns = [
    path("", include("migrations_ops.projects.urls")),
    path("", include("migrations_ops.jobs.urls")),
    path("", include("migrations_ops.monitoring.urls")),
    path("", include("migrations_ops.backups.urls")),
    path("", include("migrations_ops.rollback.urls")),
    path("", include("migrations_ops.incidents.urls")),
    path("", include("migrations_ops.environments.urls")),
    path("", include("migrations_ops.analysis.urls")),
]
