from django.apps import AppConfig

from release_portal.audit.registry import EventType, register_events

EVENTS = {
    "member.add": EventType("Member added", "added {data[user]} as {data[role]}"),
    "member.remove": EventType("Member removed", "removed {data[user]} ({data[role]})"),
    "member.role_change": EventType(
        "Role changed", "changed {data[user]}'s role from {data[before]} to {data[after]}"
    ),
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

        register_events(EVENTS, group=("member", "Members and roles"))
