"""Migration 0004: events written before the public chain get it, and keep verifying."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.db import connection, transaction

from release_portal.audit.models import AuditEvent
from release_portal.audit.services import Actor, audit_record_now
from release_portal.audit.verify import audit_verify
from tests.audit.offline import export, outsider_copy, public_key, run
from tests.schema_migrations import leaves, migrate

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("audit", "0002_append_only_trigger")]


def write_form1_events(count: int, *, tamper_seq: int | None = None) -> None:
    """Events as the portal wrote them before: HMAC over sorted compact JSON."""
    key = settings.AUDIT_HMAC_KEY.encode()
    prev = "0" * 64
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with connection.cursor() as cursor:
        for seq in range(1, count + 1):
            at = start + timedelta(seconds=seq, microseconds=seq)
            data: dict = {"i": seq, "ratio": 0.5, "nested": {"b": [1, None], "a": "=1"}}
            body = {
                "seq": seq, "at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "actor_kind": "user",
                "actor_id": 7, "actor_name": "nia", "action": "item.tick",
                "object_type": "ChecklistItem", "object_id": str(seq), "object_repr": "é “x”",
                "project_id": None, "release_id": 3,
                "data": data, "prev_hash": prev,
            }  # fmt: skip
            canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            mac = hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()
            if seq == tamper_seq:  # changed after its HMAC was taken
                data = {**data, "i": -1}
            cursor.execute(
                "INSERT INTO audit_auditevent (seq, at, actor_kind, actor_id, actor_name, "
                "action, object_type, object_id, object_repr, project_id, release_id, data, "
                "prev_hash, hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [seq, at, "user", 7, "nia", "item.tick", "ChecklistItem", str(seq), "é “x”", None,
                 3, json.dumps(data), prev, mac],
            )  # fmt: skip
            prev = mac
        cursor.execute(
            "INSERT INTO audit_auditchainhead (id, seq, hash) VALUES (1, %s, %s)", [count, prev]
        )


def test_old_events_get_the_public_chain_and_new_ones_follow_on(tmp_path, capsys):
    migrate(BEFORE)
    try:
        write_form1_events(5)
    finally:
        migrate(leaves("audit"))
    old = list(AuditEvent.objects.order_by("seq"))
    assert {e.form for e in old} == {1} and all(e.digest and e.public_hash for e in old)
    assert audit_verify().ok
    new = audit_record_now(actor=Actor("user", 7, "nia"), action="item.tick", data={"i": 6})
    assert new.form == 2 and new.prev_hash == old[-1].hash
    result = audit_verify()
    assert result.ok, result.problem
    assert result.checked == 6 and result.public_hash == new.public_hash
    # Old and new events alike check offline.
    path = export(tmp_path)
    done = run(outsider_copy(tmp_path), path, "--public-key", public_key(tmp_path, capsys))
    assert done.returncode == 0, done.stderr


def test_a_changed_old_event_stops_the_migration_with_its_number():
    migrate(BEFORE)
    try:
        write_form1_events(4, tamper_seq=3)
        with pytest.raises(RuntimeError, match="does not verify at event #3"):
            migrate(leaves("audit"))
    finally:
        # Empty what the migration refused to build on, as Django's flush would.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL release_portal.audit_truncate = 'on'")
            cursor.execute("TRUNCATE audit_auditevent, audit_auditchainhead")
        migrate(leaves("audit"))
