from django.urls import path

from release_portal.audit import views

urlpatterns = [
    path("", views.audit_log, name="audit_log"),
    path("verify", views.audit_verify_run, name="audit_verify"),
    path("export.csv", views.audit_export_csv, name="audit_export_csv"),
    path("export.jsonl", views.audit_export_jsonl, name="audit_export_jsonl"),
]
