from django.urls import path

from release_portal.audit import views

urlpatterns = [
    path("", views.audit_log, name="audit_log"),
    path("verify", views.audit_verify_run, name="audit_verify"),
    path("verify/<int:pk>", views.audit_verification, name="audit_verification"),
    path("export.csv", views.audit_export_csv, name="audit_export_csv"),
    path("export.jsonl", views.audit_export_jsonl, name="audit_export_jsonl"),
    path("public-key.pem", views.audit_public_key, name="audit_public_key"),
    path("public-keys.json", views.audit_public_keys, name="audit_public_keys"),
    path("checkpoint.json", views.audit_checkpoint_latest, name="audit_checkpoint_latest"),
]
