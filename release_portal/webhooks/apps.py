import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class WebhooksConfig(AppConfig):
    name = "release_portal.webhooks"
    label = "webhooks"
    verbose_name = "Outgoing webhooks"

    def ready(self) -> None:
        from migrations_ops.jobs import hooks
        from release_portal.webhooks.receivers import announce_failed_job
        from release_portal.webhooks.sinks import register

        register()
        _register_sentences()
        hooks.on_job_end("webhooks.failed", announce_failed_job)


def _register_sentences() -> None:
    from release_portal.audit.registry import EventType, register_events
    from release_portal.webhooks.events import EVENTS

    register_events(
        {
            f"notify.{event}": EventType(
                label, f"sent the “{label}” notification", "{data[summary]}"
            )
            for event, label in EVENTS.items()
        },
        group=("notify", "Announcements"),
    )
    register_events(
        {
            "webhook.create": EventType("Webhook added", "added the webhook {object}"),
            "webhook.update": EventType("Webhook changed", "changed the webhook {object}"),
            "webhook.rotate_secret": EventType(
                "Webhook secret rotated", "rotated the secret of the webhook {object}"
            ),
            "webhook.delete": EventType("Webhook removed", "removed the webhook {object}"),
            "webhook.ping": EventType(
                "Webhook tested", "sent a test message to the webhook {object}"
            ),
        },
        group=("webhook", "Webhooks"),
    )
