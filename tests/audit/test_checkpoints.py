"""Signed checkpoints: on a schedule, sent to webhook receivers, and the key's rotation."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.urls import reverse

from release_portal.audit import checkpoints, signing, tasks
from release_portal.audit.models import (
    AuditChainHead,
    AuditCheckpoint,
    AuditEvent,
    AuditSigningKey,
)
from release_portal.webhooks.models import Webhook, WebhookMessage
from tests.audit.conftest import (
    disable_append_only_trigger,
    rebuild_public_chain_without_the_key,
    record,
)
from tests.audit.offline import export, fails, run
from tests.locking import other_connection

pytestmark = pytest.mark.django_db


def new_key_pem() -> str:
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


def public_of(pem: str):
    return signing.load_private_key(pem).public_key()


# --- signing and the schedule ---------------------------------------------------------------


def test_a_checkpoint_signs_the_head_and_registers_the_key_the_first_time(project):
    events = [record("item.tick", project=project) for _ in range(3)]
    checkpoint = checkpoints.checkpoint_sign(reason="manual")
    register = AuditEvent.objects.get(action="audit.key_register")
    assert register.seq == events[-1].seq + 1  # the key's first use is in the chain
    doc = checkpoint.document
    assert (doc["seq"], doc["hash"], doc["public_hash"]) == (
        register.seq, register.hash, register.public_hash
    )  # fmt: skip
    key = public_of(django_settings.AUDIT_SIGNING_KEY)
    assert signing.verify(doc, key) and doc["key_id"] == signing.key_id(key)
    assert AuditSigningKey.objects.get().valid_from_seq == 0
    # A changed field breaks the signature.
    assert not signing.verify({**doc, "seq": doc["seq"] - 1}, key)


def test_the_schedule_signs_the_head_when_it_moved_and_only_then(project):
    record("item.tick", project=project)
    first = checkpoints.checkpoint_scheduled()
    assert first is not None and first.reason == "schedule"
    assert checkpoints.checkpoint_scheduled() is None  # nothing new: no new checkpoint
    record("item.tick", project=project)
    second = checkpoints.checkpoint_scheduled()
    assert second is not None and second.seq == first.seq + 1
    assert AuditCheckpoint.objects.count() == 2


def test_beat_runs_the_checkpoint_task_on_its_schedule(project, monkeypatch):
    entry = django_settings.CELERY_BEAT_SCHEDULE["audit-checkpoint"]
    assert entry["task"] == tasks.audit_checkpoint.name
    assert entry["schedule"] == float(django_settings.AUDIT_CHECKPOINT_EVERY_SECONDS)
    record("item.tick", project=project)
    tasks.audit_checkpoint.apply()  # what the worker runs when beat sends it
    assert AuditCheckpoint.objects.get().reason == "schedule"


def test_each_checkpoint_goes_to_subscribed_webhooks_of_every_project(
    project, other_project, django_capture_on_commit_callbacks, monkeypatch
):
    from release_portal.webhooks import sinks

    monkeypatch.setattr(sinks, "send_message", lambda message_id, countdown=None: None)
    ours = Webhook.objects.create(project=project, name="siem", url="https://siem.example.com/x",
                                  events=["audit.checkpoint"])  # fmt: skip
    theirs = Webhook.objects.create(project=other_project, name="archive",
                                    url="https://archive.example.com/x",
                                    events=["audit.checkpoint", "job.failed"])  # fmt: skip
    Webhook.objects.create(project=project, name="chat", url="https://chat.example.com/x",
                           events=["job.failed"])  # fmt: skip
    record("item.tick", project=project)
    with django_capture_on_commit_callbacks(execute=True):
        checkpoint = checkpoints.checkpoint_sign(reason="schedule")
    messages = WebhookMessage.objects.filter(event="audit.checkpoint")
    assert sorted(m.webhook_id for m in messages) == sorted([ours.pk, theirs.pk])
    body = json.loads(messages.first().body)
    # The signed document as it is: a receiver keeps it, and checks exports against it.
    assert body["data"]["checkpoint"] == checkpoint.document
    assert signing.verify(body["data"]["checkpoint"], public_of(django_settings.AUDIT_SIGNING_KEY))
    assert "change log signed at event #" in body["summary"]


@pytest.fixture
def sent_out():
    """What leaves the portal for receivers, observed at the real hooks: each
    ``checkpoint_signed`` signal, and each task Celery publishes to the broker."""
    from celery.signals import before_task_publish

    seen: dict[str, list] = {"signals": [], "published": []}

    def on_signed(sender, document, **kwargs):
        seen["signals"].append(document)

    def on_publish(sender=None, body=None, **kwargs):
        seen["published"].append((sender, list(body[0]) if body else None))

    checkpoints.checkpoint_signed.connect(on_signed, weak=False)
    before_task_publish.connect(on_publish, weak=False)
    yield seen
    checkpoints.checkpoint_signed.disconnect(on_signed)
    before_task_publish.disconnect(on_publish)


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_checkpoint_sends_nothing(project, sent_out):
    Webhook.objects.create(project=project, name="siem", url="https://siem.example.com/x",
                           events=["audit.checkpoint"])  # fmt: skip
    record("item.tick", project=project)
    with pytest.raises(RuntimeError), transaction.atomic():
        checkpoints.checkpoint_sign(reason="manual")
        raise RuntimeError("what was signed is part of a change that fails")
    assert not AuditCheckpoint.objects.exists()
    assert not WebhookMessage.objects.exists()
    assert sent_out == {"signals": [], "published": []}
    # The receiver never got a head the log does not have: the next checkpoint signs it anew.
    checkpoint = checkpoints.checkpoint_sign(reason="manual")
    assert [doc["seq"] for doc in sent_out["signals"]] == [checkpoint.seq]


@pytest.mark.django_db(transaction=True)
def test_a_checkpoint_goes_out_only_once_its_transaction_commits(project, sent_out):
    webhook = Webhook.objects.create(project=project, name="siem", events=["audit.checkpoint"],
                                     url="https://siem.example.com/x")  # fmt: skip
    record("item.tick", project=project)
    with transaction.atomic():
        checkpoint = checkpoints.checkpoint_sign(reason="manual")
        record("item.tick", project=project)  # the transaction goes on after signing
        assert sent_out == {"signals": [], "published": []}
        assert not WebhookMessage.objects.exists()
    assert sent_out["signals"] == [checkpoint.document]
    message = WebhookMessage.objects.get(event="audit.checkpoint")
    assert message.webhook_id == webhook.pk
    assert json.loads(message.body)["data"]["checkpoint"] == checkpoint.document
    assert sent_out["published"] == [
        ("release_portal.webhooks.tasks.webhook_deliver", [message.pk])
    ]


def test_the_checkpoint_command_signs_and_prints(project, capsys):
    record("item.tick", project=project)
    call_command("audit_checkpoint")
    printed = json.loads(capsys.readouterr().out)
    assert printed == AuditCheckpoint.objects.get().document and printed["reason"] == "manual"


# --- the public key -------------------------------------------------------------------------


def test_the_public_key_is_public_and_matches_the_command(client, project, capsys):
    record("item.tick", project=project)
    checkpoints.checkpoint_sign(reason="manual")
    response = client.get(reverse("audit_public_key"))  # anonymous
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-pem-file"
    pem = response.content.decode()
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    call_command("audit_public_key")
    assert capsys.readouterr().out == pem
    assert signing.key_id(signing.load_public_pem(pem)) == AuditCheckpoint.objects.get().key_id


def test_the_public_key_is_served_before_anything_was_signed(client):
    pem = client.get(reverse("audit_public_key")).content.decode()
    assert pem == signing.public_pem(public_of(django_settings.AUDIT_SIGNING_KEY))


def test_the_public_key_comes_from_the_signing_key_not_from_the_database(client, project, capsys):
    """Someone with database access swaps the registered key for their own: outsiders who
    take the key from the portal would then trust exports that person signs."""
    record("item.tick", project=project)
    checkpoints.checkpoint_sign(reason="manual")
    mallory = signing.public_pem(Ed25519PrivateKey.generate().public_key())
    AuditSigningKey.objects.update(public_key=mallory)
    expected = signing.public_pem(public_of(django_settings.AUDIT_SIGNING_KEY))
    assert client.get(reverse("audit_public_key")).content.decode() == expected
    call_command("audit_public_key")
    assert capsys.readouterr().out == expected


@pytest.mark.parametrize("signed_before", [True, False])
def test_it_refuses_to_sign_a_chain_rebuilt_without_the_key(
    client, personas, project, signed_before
):
    """Someone with database access rewrote event #2 and rebuilt the public chain; the
    portal then wrote on top of it. An outsider's check passes any chain whose public
    hashes link, so the portal must not sign one whose HMACs it cannot vouch for."""
    for i in range(3):
        record("item.tick", project=project, data={"i": i})
    if signed_before:  # the last good checkpoint: only the events after it are checked
        checkpoints.checkpoint_sign(reason="manual")
    with transaction.atomic():
        rebuild_public_chain_without_the_key(2, {"i": 99})
    record("item.tick", project=project, data={"i": "on top"})
    signed = AuditCheckpoint.objects.count()
    with pytest.raises(signing.SigningKeyError, match="event #2 was changed after it was written"):
        checkpoints.checkpoint_sign(reason="manual")
    client.force_login(personas["auditor"])
    response = client.get(reverse("audit_export_jsonl"))
    assert response.status_code == 503
    assert "event #2 was changed" in response.content.decode()
    assert "manage.py audit_verify" in response.content.decode()
    assert AuditCheckpoint.objects.count() == signed


def test_it_refuses_to_sign_a_chain_cut_shorter_than_its_last_checkpoint(project):
    """The newest events deleted and the head moved back: every HMAC left is good, but
    the portal's own signed checkpoint names an event that is gone."""
    for i in range(4):
        record("item.tick", project=project, data={"i": i})
    signed = checkpoints.checkpoint_sign(reason="manual")
    kept = AuditEvent.objects.get(seq=signed.seq - 2)
    with transaction.atomic():
        disable_append_only_trigger(drop_check=False)
        AuditEvent.objects.filter(seq__gt=kept.seq).delete()
        AuditChainHead.objects.update(seq=kept.seq, hash=kept.hash, public_hash=kept.public_hash)
    with pytest.raises(
        signing.SigningKeyError,
        match=f"the change log no longer holds event #{signed.seq} as the portal signed it",
    ):
        checkpoints.checkpoint_sign(reason="manual")


@pytest.mark.django_db(transaction=True)
def test_the_long_check_before_signing_does_not_hold_the_head(project):
    """Every audited change waits on the chain head's lock: the first checkpoint of a long
    change log read every event's HMAC holding it (every tick and job end waited). The
    events are checked before the lock is taken, so a rewrite is told at once even while
    another session holds the head."""
    for i in range(3):
        record("item.tick", project=project, data={"i": i})
    with transaction.atomic():
        rebuild_public_chain_without_the_key(2, {"i": 99})
    with other_connection() as holder:
        holder.execute("SELECT seq FROM audit_auditchainhead WHERE id = 1 FOR UPDATE")
        with (
            pytest.raises(signing.SigningKeyError, match="event #2 was changed after it was"),
            transaction.atomic(),
        ):
            with connection.cursor() as cursor:  # no wait without the fix: a 3 s timeout
                cursor.execute("SET LOCAL lock_timeout = '3s'")
            checkpoints.checkpoint_sign(reason="manual")
        holder.rollback()
    assert not AuditCheckpoint.objects.exists()


def test_a_chain_rebuilt_between_the_check_and_the_lock_is_still_refused(project):
    """The events were checked before the lock; someone rebuilt the chain before it was
    taken. The last event checked is checked again under the lock: its public hash
    covers every event before it."""
    for i in range(3):
        record("item.tick", project=project, data={"i": i})
    checked = checkpoints.checked_before_locking()
    assert checked == AuditChainHead.objects.get().seq
    with transaction.atomic():
        rebuild_public_chain_without_the_key(2, {"i": 99})
    with pytest.raises(signing.SigningKeyError, match="event #2 was changed after it was written"):
        checkpoints.checkpoint_sign(reason="manual", checked_seq=checked)
    assert not AuditCheckpoint.objects.exists()


# --- rotation -------------------------------------------------------------------------------


@pytest.fixture
def rotated(project, settings):
    """The portal signed with its first key, then rotated to a new one."""
    record("item.tick", project=project)
    old_pem = settings.AUDIT_SIGNING_KEY
    first = checkpoints.checkpoint_sign(reason="manual")
    new_pem = new_key_pem()
    settings.AUDIT_SIGNING_KEY, settings.AUDIT_SIGNING_KEY_PREVIOUS = new_pem, old_pem
    rotation = checkpoints.checkpoint_sign(reason="schedule")
    return {"old": old_pem, "new": new_pem, "first": first, "rotation": rotation}


def test_rotation_is_a_chain_event_signed_by_the_old_key(rotated):
    event = AuditEvent.objects.get(action="audit.key_rotate")
    old, new = public_of(rotated["old"]), public_of(rotated["new"])
    assert event.data == {
        "old_key_id": signing.key_id(old), "new_key_id": signing.key_id(new),
        "new_public_key": signing.public_pem(new),
    }  # fmt: skip
    retired, current = AuditSigningKey.objects.order_by("valid_from_seq", "pk")
    assert (retired.key_id, retired.valid_until_seq) == (signing.key_id(old), event.seq)
    assert (current.key_id, current.valid_from_seq, current.valid_until_seq) == (
        signing.key_id(new), event.seq, None
    )  # fmt: skip
    statement = current.rotation
    assert statement["seq"] == event.seq and statement["public_hash"] == event.public_hash
    assert signing.verify(statement, old)  # signed by the old key...
    assert signing.verify(statement, new, field="new_key_signature")  # ...countersigned
    assert rotated["rotation"].key_id == signing.key_id(new)


def test_old_keys_stay_listed_with_their_validity(client, rotated, capsys):
    keys = client.get(reverse("audit_public_keys")).json()["keys"]
    assert [(k["valid_from_seq"], k["valid_until_seq"]) for k in keys] == [
        (0, keys[1]["valid_from_seq"]), (keys[1]["valid_from_seq"], None)
    ]  # fmt: skip
    assert client.get(reverse("audit_public_key")).content.decode() == keys[1]["public_key"]
    call_command("audit_public_key", "--all")
    assert [k["key_id"] for k in json.loads(capsys.readouterr().out)] == [k["key_id"] for k in keys]


def test_after_rotation_exports_verify_with_the_old_or_the_new_key(
    rotated, tmp_path, script, project
):
    record("item.tick", project=project)
    path = export(tmp_path)
    for name in ("old", "new"):
        key = tmp_path / f"{name}.pem"
        key.write_text(signing.public_pem(public_of(rotated[name])))
        done = run(script, path, "--public-key", key)
        assert done.returncode == 0, (name, done.stderr)
    # A checkpoint the old key signed still proves growth, given only the new key.
    old_checkpoint = tmp_path / "first.json"
    old_checkpoint.write_text(json.dumps(rotated["first"].document))
    done = run(script, path, "--public-key", tmp_path / "new.pem", "--checkpoint", old_checkpoint)
    assert done.returncode == 0, done.stderr


def test_a_checkpoint_two_rotations_old_still_proves_growth_given_the_newest_key(
    rotated, tmp_path, script, project, settings
):
    """Keys A -> B -> C: an auditor who holds only C (today's key) checks an export against
    a checkpoint A signed years ago; C vouches for B, and B for A."""
    record("item.tick", project=project)
    newest = new_key_pem()
    settings.AUDIT_SIGNING_KEY, settings.AUDIT_SIGNING_KEY_PREVIOUS = newest, rotated["new"]
    checkpoints.checkpoint_sign(reason="rotation")
    record("item.tick", project=project)
    path = export(tmp_path)
    key = tmp_path / "newest.pem"
    key.write_text(signing.public_pem(public_of(newest)))
    first = tmp_path / "first.json"
    first.write_text(json.dumps(rotated["first"].document))
    done = run(script, path, "--public-key", key, "--checkpoint", first)
    assert done.returncode == 0, done.stderr
    assert "the log only grew since the checkpoint" in done.stdout


def test_a_retired_key_cannot_sign_after_its_rotation(rotated, tmp_path, script, settings, project):
    # Someone holding the retired key signs a checkpoint of a later head.
    record("item.tick", project=project)
    path = export(tmp_path)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    old = signing.load_private_key(rotated["old"])
    records[0] = signing.sign({**records[0], "key_id": signing.key_id(old)}, old)
    records[-1] = signing.sign({**records[-1], "key_id": signing.key_id(old)}, old)
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records)
    )
    key = tmp_path / "new.pem"
    key.write_text(signing.public_pem(public_of(rotated["new"])))
    assert "which was not valid at event #" in fails(script, path, key)


def test_a_retired_key_cannot_sign_an_export_header_after_its_rotation(
    rotated, tmp_path, script, project
):
    """The header says what was exported (filter, by whom, from which anchor): someone
    holding the retired key rewrites it and keeps the portal's own checkpoint."""
    record("item.tick", project=project)
    path = export(tmp_path)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    old = signing.load_private_key(rotated["old"])
    header = {**records[0], "exported_by": "someone else", "key_id": signing.key_id(old)}
    records[0] = signing.sign({k: v for k, v in header.items() if k != "signature"}, old)
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records)
    )
    key = tmp_path / "new.pem"
    key.write_text(signing.public_pem(public_of(rotated["new"])))
    assert "the export's header is signed by key" in fails(script, path, key)
    assert "which was not valid at event #" in fails(script, path, key)


def test_a_leaked_retired_key_cannot_rotate_to_a_key_of_its_own(rotated, tmp_path, script, project):
    """The old key leaked (why it was rotated): its holder writes a second rotation, from
    the old key to their own, and signs an export with it. An auditor who still holds only
    the old key must not follow both."""
    record("item.tick", project=project)
    path = export(tmp_path)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    old = signing.load_private_key(rotated["old"])
    mallory = Ed25519PrivateKey.generate()
    real = records[0]["keys"][-1]["rotation"]
    forged = {**real, "new_key_id": signing.key_id(mallory), "seq": 1,
              "new_public_key": signing.public_pem(mallory)}  # fmt: skip
    forged = {k: v for k, v in forged.items() if k not in signing.SIGNATURE_FIELDS}
    forged = signing.sign(signing.sign(forged, old), mallory, field="new_key_signature")
    records[0]["keys"].append(
        {"key_id": forged["new_key_id"], "public_key": forged["new_public_key"],
         "valid_from_seq": 1, "valid_until_seq": None, "rotation": forged}
    )  # fmt: skip
    for number in (0, -1):
        doc = {k: v for k, v in records[number].items() if k != "signature"}
        records[number] = signing.sign({**doc, "key_id": forged["new_key_id"]}, mallory)
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records)
    )
    key = tmp_path / "old.pem"
    key.write_text(signing.public_pem(public_of(rotated["old"])))
    stderr = fails(script, path, key)
    assert f"key {signing.key_id(old)} was rotated twice" in stderr


def test_a_key_that_is_not_the_portals_is_refused_with_what_to_do(
    client, personas, events, settings
):
    checkpoints.checkpoint_sign(reason="manual")
    settings.AUDIT_SIGNING_KEY = new_key_pem()  # swapped without a rotation
    with pytest.raises(signing.SigningKeyError, match="set AUDIT_SIGNING_KEY_PREVIOUS"):
        checkpoints.checkpoint_sign(reason="manual")
    client.force_login(personas["auditor"])
    response = client.get(reverse("audit_export_jsonl"))
    assert response.status_code == 503
    assert "audit_rotate_key" in response.content.decode()
    assert not AuditEvent.objects.filter(action="audit.export").exists()  # rolled back


def test_a_retired_key_put_back_is_refused(rotated, settings):
    settings.AUDIT_SIGNING_KEY, settings.AUDIT_SIGNING_KEY_PREVIOUS = rotated["old"], ""
    with pytest.raises(signing.SigningKeyError, match="was retired at event #"):
        checkpoints.checkpoint_sign(reason="manual")


def test_the_rotate_command(project, settings, capsys):
    record("item.tick", project=project)
    checkpoints.checkpoint_sign(reason="manual")
    with pytest.raises(CommandError, match="already the current key"):
        call_command("audit_rotate_key")
    new_pem = new_key_pem()
    settings.AUDIT_SIGNING_KEY, settings.AUDIT_SIGNING_KEY_PREVIOUS = (
        new_pem,
        settings.AUDIT_SIGNING_KEY,
    )
    call_command("audit_rotate_key")
    assert f"Signing with key {signing.key_id(public_of(new_pem))}" in capsys.readouterr().out
    assert AuditCheckpoint.objects.order_by("-pk").first().reason == "rotation"
