from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "release_portal.accounts"
    label = "accounts"
    verbose_name = "Accounts and roles"

    def ready(self) -> None:
        from release_portal.audit.registry import EventType, register_events

        register_events(
            {
                "member.add": EventType("Member added", "added {data[user]} as {data[role]}"),
                "member.remove": EventType("Member removed", "removed {data[user]} ({data[role]})"),
            },
            group=("member", "Members and roles"),
        )
