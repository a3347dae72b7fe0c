from django.urls import path

from checklists.reports import views

urlpatterns = [
    path("releases/<int:pk>/report.md", views.release_report, name="release_report"),
    path(
        "releases/<int:pk>/evidence.zip",
        views.release_evidence_pack,
        name="release_evidence_pack",
    ),
]
