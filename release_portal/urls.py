from django.contrib import admin
from django.urls import include, path

from release_portal import views
from release_portal.accounts import views as account_views
from release_portal.api import api as api_module
from release_portal.api import views as api_views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("projects/<slug:slug>/members/", account_views.project_members, name="project_members"),
    path(
        "projects/<slug:slug>/members/<int:pk>/delete",
        account_views.membership_delete,
        name="membership_delete",
    ),
    path("", include("checklists.urls")),
    path("audit/", include("release_portal.audit.urls")),
    path("", include("checklists.reports.urls")),
    path("", include("checklists.runbooks.urls")),
    path("", include("migrations_ops.projects.urls")),
    path("", include("release_portal.webhooks.urls")),
    path("", include("migrations_ops.monitoring.urls")),
    path("", include("checklists.deployments.urls")),
    path("", include("release_portal.api.urls")),
    path("api/docs", api_views.docs, name="api_docs"),
    path("api/", api_module.urls()),
    path("api/<path:rest>", api_views.not_found),
    path("admin/", admin.site.urls),
    path("", include("migrations_ops.jobs.urls")),
    path("", include("migrations_ops.backups.urls")),
    path("", include("migrations_ops.rollback.urls")),
    path("", include("migrations_ops.incidents.urls")),
]
