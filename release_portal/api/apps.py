from django.apps import AppConfig

from release_portal.audit.registry import EventType, register_events

EVENTS = {
    "api_token.create": EventType("API token created", "created the API token {data[name]}"),
    "api_token.revoke": EventType("API token revoked", "revoked the API token {data[name]}"),
}


class ApiConfig(AppConfig):
    name = "release_portal.api"
    label = "api"
    verbose_name = "API for CI"

    def ready(self) -> None:
        register_events(EVENTS, group=("api_token", "API tokens"))
