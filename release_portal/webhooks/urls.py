from django.urls import path

from release_portal.webhooks import views

urlpatterns = [
    path("projects/<slug:slug>/webhooks/", views.webhooks_page, name="webhooks"),
    path("projects/<slug:slug>/webhooks/<int:pk>/", views.webhook_edit, name="webhook_edit"),
    path(
        "projects/<slug:slug>/webhooks/<int:pk>/rotate",
        views.webhook_rotate,
        name="webhook_rotate",
    ),
    path(
        "projects/<slug:slug>/webhooks/<int:pk>/delete",
        views.webhook_delete,
        name="webhook_delete",
    ),
    path("projects/<slug:slug>/webhooks/<int:pk>/ping", views.webhook_ping, name="webhook_ping"),
]
