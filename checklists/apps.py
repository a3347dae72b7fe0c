from django.apps import AppConfig


class ChecklistsConfig(AppConfig):
    name = "checklists"
    verbose_name = "Releases and checklists"

    def ready(self) -> None:
        from checklists import receivers  # noqa: F401  (connects the signal receivers)
