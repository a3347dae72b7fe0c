from django.apps import AppConfig


class MigrationsOpsConfig(AppConfig):
    name = "migrations_ops"
    verbose_name = "Projects, jobs and backups"
