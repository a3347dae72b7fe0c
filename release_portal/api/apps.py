from typing import Any

from django.apps import AppConfig

from release_portal.audit.registry import EventType, event_data, register_events
from release_portal.templatetags.portal import utc_time


def _created(event: Any) -> str:
    """``created the API token ci (read, report) expiring 2027-03-06 14:03 UTC``; events
    written before tokens expired say no expiry at all (they copied none)."""
    data = event_data(event)
    scopes = data.get("scopes")
    said = f"created the API token {data.get('name', '')}"
    if isinstance(scopes, list) and scopes:
        said += f" ({', '.join(map(str, scopes))})"
    if "expires_at" not in data:
        return said
    if data["expires_at"] is None:
        return f"{said} that never expires"
    return f"{said} expiring {utc_time(data['expires_at'])}"


EVENTS = {
    "api_token.create": EventType("API token created", _created),
    "api_token.revoke": EventType("API token revoked", "revoked the API token {data[name]}"),
}


class ApiConfig(AppConfig):
    name = "release_portal.api"
    label = "api"
    verbose_name = "API for CI"

    def ready(self) -> None:
        register_events(EVENTS, group=("api_token", "API tokens"))
