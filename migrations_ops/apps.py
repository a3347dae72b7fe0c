from django.apps import AppConfig


class MigrationsOpsConfig(AppConfig):
    name = "migrations_ops"
    verbose_name = "Projects, jobs and backups"

    def ready(self) -> None:
        # Backups, restore checks, rehearsals and incidents hear of finished jobs.
        from migrations_ops import audit_events
        from migrations_ops.backups import receivers  # noqa: F401
        from migrations_ops.pg import checks  # noqa: F401  (the sandbox's system checks)

        audit_events.register()  # how the change log says jobs, backups... in words
