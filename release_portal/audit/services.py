"""Writing the change log. Every service calls ``audit_record`` inside its own transaction."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Field
from django.utils import timezone

from release_portal.audit.chain import FORM, canonical_text, hashes_for, to_json_value
from release_portal.audit.models import GENESIS_HASH, AuditEvent


@dataclass(frozen=True)
class Actor:
    """Who did it, copied into the event: a person, an API token or the portal itself."""

    kind: str
    id: int | None
    name: str

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls("system", None, name)


def actor_of(who: Any) -> Actor:
    if who is None:
        return Actor.system()
    if isinstance(who, Actor):
        return who
    as_actor = getattr(who, "as_actor", None)  # API tokens describe themselves
    if callable(as_actor):
        return as_actor()
    if getattr(who, "is_authenticated", False):
        return Actor("user", who.pk, who.get_username())
    raise TypeError(f"cannot record {who!r} as an actor")


def hmac_key() -> bytes:
    return settings.AUDIT_HMAC_KEY.encode()


def lock_head() -> tuple[int, str, str]:
    """Lock the chain head for the rest of the transaction: (seq, hash, public_hash)."""
    # One row, locked for the rest of the transaction: writers queue here, so two
    # concurrent requests can never both extend the chain from the same head.
    # The row exists after the first event: lock it with one statement, and make it only
    # when the lock found nothing (the very first event of a database).
    lock = "SELECT seq, hash, public_hash FROM audit_auditchainhead WHERE id = 1 FOR UPDATE"
    with connection.cursor() as cursor:
        cursor.execute(lock)
        row = cursor.fetchone()
        if row is None:
            cursor.execute(
                "INSERT INTO audit_auditchainhead (id, seq, hash, public_hash) "
                "VALUES (1, 0, %s, %s) ON CONFLICT (id) DO NOTHING",
                [GENESIS_HASH, GENESIS_HASH],
            )
            cursor.execute(lock)
            row = cursor.fetchone()
    seq, head_hash, public_hash = row
    return seq, head_hash, public_hash


def _name_of(thing: Any) -> str:
    return "" if thing is None or isinstance(thing, int) else str(thing)[:300]


def audit_record(
    *,
    actor: Any,
    action: str,
    obj: Any = None,
    project: Any = None,
    release: Any = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain, in the caller's transaction.

    ``obj`` names what changed (its type, id and text); ``project`` and ``release`` are
    taken from it when not given, and the release's name is copied into the event.
    ``data`` holds before/after values and must never hold a secret's value.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("audit_record must run inside the transaction of the change it records")
    who = actor_of(actor)
    if release is None and obj is not None and obj.__class__.__name__ == "Release":
        release = obj
    if release is None and obj is not None:
        release = getattr(obj, "release", None) if hasattr(obj, "release_id") else None
    if project is None:
        for source in (obj, release):
            if source is None:
                continue
            if source.__class__.__name__ == "Project":
                project = source
                break
            if getattr(source, "project_id", None):
                project = source.project_id
                break
    project_id = project if isinstance(project, int) or project is None else project.pk
    release_id = release if isinstance(release, int) or release is None else release.pk

    prev_seq, prev_hash, prev_public = lock_head()
    fields: dict[str, Any] = {
        "seq": prev_seq + 1,
        "at": timezone.now(),
        "actor_kind": who.kind,
        "actor_id": who.id,
        "actor_name": who.name[:200],
        "action": action,
        "object_type": obj.__class__.__name__ if obj is not None else "",
        "object_id": str(obj.pk) if obj is not None and obj.pk is not None else "",
        "object_repr": str(obj)[:300] if obj is not None else "",
        "project_id": project_id,
        "release_id": release_id,
        "release_repr": _name_of(release),
        "data": to_json_value(data or {}),
        "prev_hash": prev_hash,
    }
    canonical = canonical_text(fields)
    hashes = hashes_for(hmac_key(), FORM, canonical.encode(), prev_public)
    event = AuditEvent(
        **fields,
        form=FORM,
        canonical=canonical,
        digest=hashes.digest,
        public_hash=hashes.public_hash,
        hash=hashes.hash,
    )
    _append(event)
    return event


@functools.cache
def _append_sql() -> tuple[str, tuple[Field, ...]]:
    """The INSERT of an event and the move of the head to it, as one statement, and the
    event's columns in the order it takes them (built once per process)."""
    columns = tuple(f for f in AuditEvent._meta.concrete_fields if not f.primary_key)
    quote = connection.ops.quote_name
    sql = (
        f"WITH event AS (INSERT INTO {quote(AuditEvent._meta.db_table)} "  # noqa: S608 - names
        f"({', '.join(quote(str(f.column)) for f in columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))}) RETURNING id), "
        "head AS (UPDATE audit_auditchainhead SET seq = %s, hash = %s, public_hash = %s "
        "WHERE id = 1) "
        "SELECT id FROM event"
    )
    return sql, columns


def _append(event: AuditEvent) -> None:
    """Write ``event`` and move the chain head to it in one round trip (the head is
    locked by lock_head). Each value is prepared by its model field, as the ORM's own
    INSERT would, so the CHECK that the columns agree with ``canonical`` sees the same
    row; the statement's text is built once, not at every event."""
    sql, columns = _append_sql()
    values = [f.get_db_prep_save(f.pre_save(event, True), connection) for f in columns]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, event.seq, event.hash, event.public_hash])
        (event.pk,) = cursor.fetchone()
    event._state.adding = False
    event._state.db = connection.alias


@transaction.atomic
def audit_record_now(**kwargs: Any) -> AuditEvent:
    """For callers with no transaction of their own (a login, a download)."""
    return audit_record(**kwargs)


@transaction.atomic
def audit_export_record(
    *, actor: Any, fmt: str, filters: dict[str, Any], project_ids: list[int]
) -> list[AuditEvent]:
    """Record an export of the change log before it streams: one ``audit.export`` event
    per project it covers, so each project's own log shows who took its events away.

    The row count is only known once the download ends; the export's last line states it.
    """
    return [
        audit_record(
            actor=actor,
            action="audit.export",
            project=project_id,
            data={"format": fmt, "filter": filters, "projects": project_ids},
        )
        for project_id in project_ids
    ]
