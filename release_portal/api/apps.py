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


def _revoked(event: Any) -> str:
    """``revoked the API token ci``, and why when the portal did it with someone's change:
    ``…: its creator ana is no longer a platform lead here (removed from the project)``."""
    data = event_data(event)
    said = f"revoked the API token {data.get('name', '')}"
    return f"{said}: {data['reason']}" if data.get("reason") else said


EVENTS = {
    "api_token.create": EventType("API token created", _created),
    "api_token.revoke": EventType("API token revoked", _revoked),
}


class ApiConfig(AppConfig):
    name = "release_portal.api"
    label = "api"
    verbose_name = "API for CI"

    def ready(self) -> None:
        from release_portal.accounts.signals import role_lost, sign_in_ended

        register_events(EVENTS, group=("api_token", "API tokens"))
        role_lost.connect(_role_lost, dispatch_uid="api.tokens_of_a_lost_lead_role")
        sign_in_ended.connect(_sign_in_ended, dispatch_uid="api.tokens_of_an_ended_sign_in")


def _role_lost(sender: Any, *, user: Any, project_id: int, role: Any, actor: Any, **_: Any) -> None:
    """A token ends with its creator's platform-lead role (``api.creators``)."""
    from release_portal.api.creators import lead_role_lost

    lead_role_lost(user=user, project_id=project_id, role=role, actor=actor)


def _sign_in_ended(sender: Any, *, user: Any, actor: Any, how: Any, **_: Any) -> None:
    """…and with its creator's account (deactivated, deleted)."""
    from release_portal.api.creators import sign_in_ended

    sign_in_ended(user=user, actor=actor, how=str(how))
