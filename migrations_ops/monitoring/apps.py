from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "migrations_ops.monitoring"
    label = "monitoring"
    verbose_name = "Post-deploy monitoring"

    def ready(self) -> None:
        from migrations_ops.monitoring import receivers  # noqa: F401  (job_finished)
