"""The root urlconf: the portal's own pages, then one urlconf per package."""

from django.contrib import admin
from django.urls import include, path

from release_portal import views
from release_portal.api import api as api_module
from release_portal.api import views as api_views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("release_portal.accounts.urls")),
    path("", include("release_portal.audit.urls")),
    path("", include("release_portal.webhooks.urls")),
    path("", include("release_portal.api.urls")),
    path("api/docs", api_views.docs, name="api_docs"),
    path("api/", api_module.urls()),
    path("api/<path:rest>", api_views.not_found),
    path("admin/", admin.site.urls),
    path("", include("checklists.urls")),
    path("", include("migrations_ops.urls")),
]
