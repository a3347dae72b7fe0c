from django.urls import path

from migrations_ops.monitoring import views

urlpatterns = [
    path("releases/<int:pk>/monitoring", views.release_monitoring, name="release_monitoring"),
    path("monitoring/<int:pk>/close", views.monitoring_close_view, name="monitoring_close"),
    path("projects/<slug:slug>/monitoring/", views.health_queries, name="health_queries"),
    path(
        "projects/<slug:slug>/monitoring/queries/<int:pk>",
        views.health_query_edit,
        name="health_query_edit",
    ),
    path(
        "projects/<slug:slug>/monitoring/settings",
        views.monitoring_settings,
        name="monitoring_settings",
    ),
]
