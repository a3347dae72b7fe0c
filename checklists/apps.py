from django.apps import AppConfig


class ChecklistsConfig(AppConfig):
    name = "checklists"
    verbose_name = "Releases and checklists"

    def ready(self) -> None:
        from checklists import audit_events, job_hooks

        audit_events.register()  # the change log's sentences and release picker
        job_hooks.register()
