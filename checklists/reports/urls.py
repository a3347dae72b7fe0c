from django.urls import path

from checklists.reports import views as views_reports

urlpatterns = [
    path("releases/<int:pk>/report.md", views_reports.release_report, name="release_report"),
    path(
        "releases/<int:pk>/evidence.zip",
        views_reports.release_evidence_pack,
        name="release_evidence_pack",
    ),
]
