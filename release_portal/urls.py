from django.contrib import admin
from django.urls import include, path

from release_portal import views
from release_portal.accounts import views as account_views

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
    path("", include("checklists.urls_reports")),
    path("", include("checklists.runbooks.urls")),
    path("", include("migrations_ops.urls_settings")),
    path("", include("release_portal.webhooks.urls")),
    path("", include("migrations_ops.monitoring.urls")),
    path("admin/", admin.site.urls),
    path("", include("migrations_ops.urls")),
]
