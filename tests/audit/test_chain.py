"""The change log: chained, append-only, and every kind of tampering caught."""

from __future__ import annotations

import hashlib
import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction
from django.db.utils import DatabaseError

from release_portal.audit.models import AuditChainHead, AuditEvent
from release_portal.audit.services import Actor, audit_record, audit_record_now
from release_portal.audit.verify import audit_verify
from tests.audit.conftest import disable_append_only_trigger, rebuild_public_chain_without_the_key


def write_events(n: int) -> list[AuditEvent]:
    events = []
    for i in range(n):
        events.append(
            audit_record_now(
                actor=Actor("user", 7, "nia"), action="test.event", data={"i": i, "note": "é"}
            )
        )
    return events


def drop_trigger(*, drop_check: bool = True) -> None:
    # What the table's owner could do before tampering.
    disable_append_only_trigger(drop_check=drop_check)


@pytest.mark.django_db
def test_events_chain_and_verify():
    events = write_events(5)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[1].prev_hash == events[0].hash
    result = audit_verify()
    assert result.ok, result.problem
    assert result.checked == 5
    assert result.head_hash == events[-1].hash
    assert AuditChainHead.objects.get().seq == 5


@pytest.mark.django_db(transaction=True)
def test_recording_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError, match="inside the transaction"):
        audit_record(actor=None, action="x")
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("statement", ["UPDATE audit_auditevent SET action = 'x'",
                                       "DELETE FROM audit_auditevent",
                                       "TRUNCATE audit_auditevent"])  # fmt: skip
def test_the_trigger_refuses_changes(statement):
    write_events(2)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    assert AuditEvent.objects.count() == 2


@pytest.mark.django_db
def test_a_changed_event_is_caught():
    write_events(4)
    drop_trigger()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET data = '{\"i\": 99}' WHERE seq = 3")
    result = audit_verify()
    assert not result.ok
    assert result.seq == 3
    assert "changed" in result.problem


@pytest.mark.django_db
def test_a_deleted_event_is_caught():
    write_events(4)
    drop_trigger()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE seq = 2")
    result = audit_verify()
    assert not result.ok
    assert result.seq == 2
    assert "missing" in result.problem


@pytest.mark.django_db
def test_an_inserted_event_is_caught():
    events = write_events(3)
    drop_trigger()
    with connection.cursor() as cursor:
        # Shift events 2..3 up and slip a forged one in as #2, linked to #1.
        cursor.execute("UPDATE audit_auditevent SET seq = seq + 10 WHERE seq >= 2")
        cursor.execute("UPDATE audit_auditevent SET seq = seq - 9 WHERE seq >= 12")
        forged = AuditEvent(
            seq=2, at=events[1].at, actor_kind="user", actor_id=1, actor_name="mallory",
            action="test.event", data={}, prev_hash=events[0].hash, hash="f" * 64,
        )  # fmt: skip
        forged.save()
    result = audit_verify()
    assert not result.ok
    assert result.seq == 2


@pytest.mark.django_db
def test_reordered_events_are_caught():
    write_events(3)
    drop_trigger()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET seq = 100 WHERE seq = 2")
        cursor.execute("UPDATE audit_auditevent SET seq = 2 WHERE seq = 3")
        cursor.execute("UPDATE audit_auditevent SET seq = 3 WHERE seq = 100")
    result = audit_verify()
    assert not result.ok
    assert result.seq == 2
    assert "does not link" in result.problem


@pytest.mark.django_db
def test_removing_the_newest_events_is_caught_by_the_head():
    write_events(4)
    drop_trigger()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE seq = 4")
    result = audit_verify()
    assert not result.ok
    assert "removed" in result.problem


@pytest.mark.django_db
def test_removing_the_newest_events_and_the_head_is_caught_by_a_copied_head():
    events = write_events(4)
    copied_head = events[-1].hash  # as printed in an earlier release report
    drop_trigger(drop_check=False)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE seq = 4")
        cursor.execute(
            "UPDATE audit_auditchainhead SET seq = 3, hash = %s, public_hash = %s",
            [events[2].hash, events[2].public_hash],
        )
    assert audit_verify().ok  # internally consistent...
    result = audit_verify(expect_head=copied_head)
    assert not result.ok  # ...but not against the copy
    assert "not in the chain" in result.problem


@pytest.mark.django_db
def test_removing_the_newest_events_and_the_head_is_caught_by_a_signed_checkpoint():
    """The portal keeps the checkpoints it signed: a chain cut below one is not intact,
    with no head hash copied by hand."""
    from release_portal.audit.checkpoints import checkpoint_sign

    write_events(4)
    signed = checkpoint_sign(reason="manual")
    kept = AuditEvent.objects.get(seq=signed.seq - 2)
    drop_trigger(drop_check=False)
    AuditEvent.objects.filter(seq__gt=kept.seq).delete()
    AuditChainHead.objects.update(seq=kept.seq, hash=kept.hash, public_hash=kept.public_hash)
    result = audit_verify()
    assert not result.ok
    assert f"the change log no longer holds event #{signed.seq} as the portal signed it" in (
        result.problem
    )


@pytest.mark.django_db
def test_a_rewritten_hash_is_caught_at_its_event():
    write_events(2)
    drop_trigger()
    with connection.cursor() as cursor:
        # Someone with database access recomputes plain sha256 links: no key, no match.
        cursor.execute("SELECT seq, hash FROM audit_auditevent ORDER BY seq")
        rows = cursor.fetchall()
        fake = hashlib.sha256(b"x").hexdigest()
        cursor.execute("UPDATE audit_auditevent SET hash = %s WHERE seq = %s", [fake, rows[0][0]])
        cursor.execute(
            "UPDATE audit_auditevent SET prev_hash = %s WHERE seq = %s", [fake, rows[1][0]]
        )
    result = audit_verify()
    assert not result.ok
    assert result.seq == 1


@pytest.mark.django_db
def test_audit_verify_command_exits_non_zero_on_tampering(capsys):
    write_events(2)
    call_command("audit_verify")
    assert "OK: 2 events verified" in capsys.readouterr().out
    drop_trigger()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET actor_name = 'eve' WHERE seq = 1")
    with pytest.raises(CommandError, match="event #1 was changed"):
        call_command("audit_verify")


@pytest.mark.django_db
def test_seq_is_unique_at_the_database_level():
    (event,) = write_events(1)
    copy = {f.attname: getattr(event, f.attname) for f in AuditEvent._meta.fields if f.name != "id"}
    with pytest.raises(IntegrityError, match="seq"), transaction.atomic():
        AuditEvent.objects.create(**copy)


@pytest.mark.django_db
def test_the_database_refuses_columns_that_disagree_with_the_canonical_form():
    write_events(2)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
    # With the trigger off, the CHECK constraint still ties every column to what is hashed.
    for change in ("actor_name = 'eve'", "data = '{\"i\": 99}'", "project_id = 5",
                   "at = at + interval '1 second'", "release_repr = 'x'", "form = 1"):  # fmt: skip
        with (
            pytest.raises(IntegrityError, match="audit_canonical_matches_columns"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(f"UPDATE audit_auditevent SET {change} WHERE seq = 1")  # noqa: S608
    assert audit_verify().ok


@pytest.mark.django_db
def test_a_rebuilt_public_chain_without_the_key_is_caught():
    events = write_events(4)
    rebuild_public_chain_without_the_key(2, {"i": 99}, drop_check=True)
    result = audit_verify()
    assert not result.ok
    assert result.seq == 2
    assert "rebuilt without the key" in result.problem
    assert result.checked == 1 and result.head_hash == events[0].hash


@pytest.mark.django_db
def test_a_rebuilt_public_chain_is_caught_after_the_portal_wrote_on_top_of_it():
    """The next event's hash is the portal's own HMAC over the rebuilt public hash, so the
    newest hash matches: the events before it must be checked too."""
    write_events(4)
    rebuild_public_chain_without_the_key(2, {"i": 99})
    audit_record_now(actor=Actor("user", 7, "nia"), action="test.event", data={"i": 4})
    result = audit_verify()
    assert not result.ok
    assert result.seq == 2
    assert "rebuilt without the key" in result.problem


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_the_chain():
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(10):
                audit_record_now(
                    actor=Actor.system(f"writer{n}"), action="test.race", data={"i": i}
                )
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert AuditEvent.objects.count() == 40
    result = audit_verify()
    assert result.ok, result.problem
    assert result.checked == 40


# --- the streamed check: long chains, odd rows, a check stopped midway ----------------------


def load_chain(n: int) -> None:
    """``n`` valid events in one statement (the services take the head's lock per event)."""
    from datetime import UTC, datetime, timedelta

    from release_portal.audit.chain import canonical_text, hashes_for
    from release_portal.audit.models import GENESIS_HASH
    from release_portal.audit.services import hmac_key

    events, prev, prev_public = [], GENESIS_HASH, GENESIS_HASH
    start = datetime(2026, 3, 1, tzinfo=UTC)
    for seq in range(1, n + 1):
        fields = {
            "seq": seq, "at": start + timedelta(seconds=seq), "actor_kind": "user",
            "actor_id": 7, "actor_name": "nia", "action": "test.bulk", "object_type": "",
            "object_id": "", "object_repr": f'"quoted" \\ {seq}', "project_id": None,
            "release_id": None, "release_repr": "", "data": {"i": seq, "note": "é\t"},
            "prev_hash": prev,
        }  # fmt: skip
        canonical = canonical_text(fields)
        hashes = hashes_for(hmac_key(), 2, canonical.encode(), prev_public)
        events.append(AuditEvent(**fields, form=2, canonical=canonical, digest=hashes.digest,
                                 public_hash=hashes.public_hash, hash=hashes.hash))  # fmt: skip
        prev, prev_public = hashes.hash, hashes.public_hash
    AuditEvent.objects.bulk_create(events, batch_size=1000)
    AuditChainHead.objects.update_or_create(
        id=1, defaults={"seq": n, "hash": prev, "public_hash": prev_public}
    )


@pytest.mark.django_db
def test_it_checks_a_chain_longer_than_one_network_read_and_reports_progress(monkeypatch):
    from release_portal.audit import verify

    load_chain(3000)  # about 2 MB of rows: the check waits for the server several times
    monkeypatch.setattr(verify, "PROGRESS_EVERY", 1000)
    seen: list[tuple[int, int]] = []
    result = audit_verify(progress=lambda checked, total: seen.append((checked, total)))
    assert result.ok, result.problem
    assert result.checked == 3000
    assert result.head_hash == AuditEvent.objects.get(seq=3000).hash
    assert seen == [(1000, 3000), (2000, 3000), (3000, 3000), (3000, 3000)]


@pytest.mark.django_db
def test_it_names_a_changed_event_deep_in_a_long_chain_and_stays_usable():
    load_chain(3000)
    drop_trigger()
    with connection.cursor() as cursor:  # a changed byte in the stored canonical form
        cursor.execute(
            "UPDATE audit_auditevent SET canonical = replace(canonical, 'nia', 'nib') "
            "WHERE seq = 2500"
        )
    result = audit_verify()
    assert not result.ok
    assert result.seq == 2500 and result.checked == 2499
    assert "event #2500 was changed" in result.problem
    assert AuditEvent.objects.count() == 3000  # the rest was read: the connection still works


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ("hash = left(hash, 63)", "event #2 was changed after it was written (its hash does not"),
        ("digest = left(digest, 63)", "event #2 was changed after it was written (its digest"),
        ("public_hash = ''", "event #2 does not follow the public chain"),
        ("prev_hash = left(prev_hash, 63)", "event #2 does not link to event #1"),
    ],
)
def test_a_hash_column_of_another_length_is_caught_at_its_event(change, problem):
    write_events(3)
    drop_trigger()
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE audit_auditevent SET {change} WHERE seq = 2")  # noqa: S608
    result = audit_verify()
    assert not result.ok
    assert result.seq == 2
    assert problem in result.problem


@pytest.mark.django_db
def test_a_check_stopped_midway_leaves_the_connection_usable(monkeypatch):
    from release_portal.audit import verify

    load_chain(3000)
    monkeypatch.setattr(verify, "PROGRESS_EVERY", 100)

    def stop(checked: int, total: int) -> None:
        raise KeyboardInterrupt  # what a worker's time limit or Ctrl-C does mid-stream

    with pytest.raises(KeyboardInterrupt):
        audit_verify(progress=stop)
    assert AuditEvent.objects.count() == 3000
    assert audit_verify().ok
