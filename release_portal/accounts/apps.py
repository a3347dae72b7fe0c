from typing import Any

from django.apps import AppConfig

from release_portal.accounts.roles import Role
from release_portal.audit.registry import EventType, event_data, register_events


def _role(value: Any) -> str:
    """A role as people name it ("QA lead"); the event stores its code ("qa_lead")."""
    return str(Role(value).label) if value in Role.values else str(value or "")


def _where(data: dict[str, Any]) -> str:
    """Where a change was made when not on the Members page: an operator's fix in Django's
    admin reads apart from a lead's decision."""
    return " in Django's admin" if data.get("via") == "admin" else ""


def _added(event: Any) -> str:
    data = event_data(event)
    return f"added {data.get('user', '')} as {_role(data.get('role'))}{_where(data)}"


def _removed(event: Any) -> str:
    data = event_data(event)
    return f"removed {data.get('user', '')} ({_role(data.get('role'))}){_where(data)}"


def _role_changed(event: Any) -> str:
    data = event_data(event)
    return (
        f"changed {data.get('user', '')}'s role from {_role(data.get('before'))} "
        f"to {_role(data.get('after'))}{_where(data)}"
    )


EVENTS = {
    "member.add": EventType("Member added", _added),
    "member.remove": EventType("Member removed", _removed),
    "member.role_change": EventType("Role changed", _role_changed),
    "member.invite_resend": EventType(
        "Invitation sent again", "sent {data[user]}'s invitation again"
    ),
    "member.invite_revoke": EventType("Invitation revoked", "revoked {data[user]}'s invitation"),
}


class AccountsConfig(AppConfig):
    name = "release_portal.accounts"
    label = "accounts"
    verbose_name = "Accounts and roles"

    def ready(self) -> None:
        from release_portal import routes  # noqa: F401  (every page's route is outermost)
        from release_portal.accounts import lifecycle

        lifecycle.connect()
        register_events(EVENTS, group=("member", "Members and roles"))
