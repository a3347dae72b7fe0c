import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class WebhooksConfig(AppConfig):
    name = "release_portal.webhooks"
    label = "webhooks"
    verbose_name = "Outgoing webhooks"

    def ready(self) -> None:
        from release_portal.webhooks import receivers  # noqa: F401  (job_finished)
        from release_portal.webhooks.sinks import register

        register()
