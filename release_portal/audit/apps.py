from typing import Any

from django.apps import AppConfig

from release_portal.audit.registry import EventType, event_data, register_events

_FORMATS = {"jsonl": "JSON Lines", "csv": "CSV"}
# How an export's stored filter reads (AuditFilterForm.filter_values' names).
_FILTERS = {
    "project": "project #{}",
    "release": "release #{}",
    "action": "events {}",
    "actor": "by {}",
    "object": "history of {}",
    "since": "from {} UTC",
    "until": "to {} UTC",
}


def _export_format(event: Any) -> str:
    fmt = str(event_data(event).get("format", ""))
    return f"exported the change log as {_FORMATS.get(fmt, fmt)}"


def _export_filter(event: Any) -> str:
    """ "only release #12, from 2026-12-01 UTC" or "every event", not ``filter {}``."""
    chosen = event_data(event).get("filter") or {}
    shown = [said.format(chosen[k]) for k, said in _FILTERS.items() if k in chosen]
    if chosen.get("hide_system"):
        shown.append("without worker and system events")
    return "only " + ", ".join(shown) if shown else "every event"


EVENTS = {
    "audit.export": EventType("Change log exported", _export_format, detail=_export_filter),
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
