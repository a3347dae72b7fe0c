from django.apps import AppConfig

from release_portal.audit.registry import EventType, register_events

EVENTS = {
    "audit.export": EventType("Change log exported", "exported the change log as {data[format]}"),
    "audit.verify": EventType("Chain check started", "started a check of the whole chain"),
    "audit.key_register": EventType(
        "Signing key registered", "registered the signing key {data[key_id]}"
    ),
    "audit.key_rotate": EventType(
        "Signing key rotated",
        "rotated the signing key from {data[old_key_id]} to {data[new_key_id]}",
    ),
}


class AuditConfig(AppConfig):
    name = "release_portal.audit"
    label = "audit"
    verbose_name = "Change log"

    def ready(self) -> None:
        from release_portal.audit import checks  # noqa: F401  (the deploy check of the key)

        register_events(EVENTS, group=("audit", "The change log itself"))
