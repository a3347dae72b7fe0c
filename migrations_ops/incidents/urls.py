from django.urls import path

from migrations_ops.incidents import views

urlpatterns = [
    path("incidents/", views.incident_list, name="incident_list"),
    path("incidents/<int:pk>/", views.incident_detail, name="incident_detail"),
    path("incidents/<int:pk>/<slug:action>", views.incident_action, name="incident_action"),
    path("releases/<int:pk>/incidents/new", views.incident_new, name="incident_new"),
]
