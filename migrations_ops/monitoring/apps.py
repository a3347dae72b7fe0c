from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "migrations_ops.monitoring"
    label = "monitoring"
    verbose_name = "Post-deploy monitoring"
