from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "release_portal.audit"
    label = "audit"
    verbose_name = "Change log"
