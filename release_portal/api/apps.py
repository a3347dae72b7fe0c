from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "release_portal.api"
    label = "api"
    verbose_name = "API for CI"

    def ready(self) -> None:
        from release_portal.audit.registry import EventType, register_events

        register_events(
            {
                "api_token.create": EventType(
                    "API token created", "created the API token {data[name]}"
                ),
                "api_token.revoke": EventType(
                    "API token revoked", "revoked the API token {data[name]}"
                ),
            },
            group=("api_token", "API tokens"),
        )
