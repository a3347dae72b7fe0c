"""Signed checkpoints of the chain head, and the signing key's life: first use, rotation.

A checkpoint proves something only once it is held outside the portal: each one is sent
(after commit) through the ``checkpoint_signed`` signal, which the webhooks feature turns
into an ``audit.checkpoint`` message for every subscribed receiver. The portal keeps its
own copy (AuditCheckpoint) for the audit page and for exports.

Every service here takes the chain head's lock before it writes, so a checkpoint signs a
head no writer is extending, and key changes are serialised with everything else; the
long read (every HMAC since the last checkpoint) comes before the lock.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from release_portal.audit import signing
from release_portal.audit.chain import canonical_time
from release_portal.audit.models import AuditChainHead, AuditCheckpoint, AuditSigningKey
from release_portal.audit.services import audit_export_record, audit_record, lock_head
from release_portal.audit.verify import first_rewritten, last_signed_checkpoint, mac_holds


class ChainNotVouched(signing.SigningKeyError):
    """The chain holds an event rewritten without the HMAC key: the portal signs nothing
    until it is resolved. A SigningKeyError, so every page and command that says why it
    cannot sign says this too."""


# Sent after the signing transaction commits: document (the signed checkpoint) and
# rotation (the signed rotation statement when this checkpoint follows a key rotation).
checkpoint_signed = Signal()


def _registered(key_id: str) -> AuditSigningKey | None:
    return AuditSigningKey.objects.filter(key_id=key_id).first()


def _register_first_key(key: Any, actor: Any) -> AuditSigningKey:
    kid, pem = signing.key_id(key), signing.public_pem(key)
    audit_record(actor=actor, action="audit.key_register", data={"key_id": kid, "public_key": pem})
    # The first key vouches for the whole chain, including what was written before it.
    return AuditSigningKey.objects.create(
        key_id=kid, public_key=pem, valid_from_seq=0, valid_from=timezone.now()
    )


def _rotate(old: Any, new: Any, current: AuditSigningKey, actor: Any) -> AuditSigningKey:
    new_id, new_pem = signing.key_id(new), signing.public_pem(new)
    event = audit_record(
        actor=actor,
        action="audit.key_rotate",
        data={"old_key_id": current.key_id, "new_key_id": new_id, "new_public_key": new_pem},
    )
    now = timezone.now()
    statement: dict[str, Any] = {
        "type": "key_rotation",
        "format": signing.ROTATION_FORMAT,
        "old_key_id": current.key_id,
        "new_key_id": new_id,
        "new_public_key": new_pem,
        "seq": event.seq,
        "public_hash": event.public_hash,
        "hash": event.hash,
        "at": canonical_time(now),
    }
    statement = signing.sign(statement, old)
    statement = signing.sign(statement, new, field="new_key_signature")
    current.valid_until_seq, current.valid_until = event.seq, now
    current.save(update_fields=["valid_until_seq", "valid_until"])
    return AuditSigningKey.objects.create(
        key_id=new_id,
        public_key=new_pem,
        valid_from_seq=event.seq,
        valid_from=now,
        rotation=statement,
    )


def signing_key_current(*, actor: Any = None) -> tuple[Any, AuditSigningKey, bool]:
    """The key to sign with, its registry row, and whether it was rotated in just now.

    The first time the portal signs, AUDIT_SIGNING_KEY is registered (a change-log event).
    When AUDIT_SIGNING_KEY is a new key and AUDIT_SIGNING_KEY_PREVIOUS the registered one,
    the rotation is recorded (a change-log event, a statement signed by the old key and
    countersigned by the new). Any other mismatch is refused with what to do.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("signing_key_current must run inside a transaction")
    lock_head()
    key = signing.configured_key()
    kid = signing.key_id(key)
    current = AuditSigningKey.objects.filter(valid_until_seq__isnull=True).first()
    if current is not None and current.key_id == kid:
        return key, current, False
    known = _registered(kid)
    if known is not None:
        now = current.key_id if current else "?"
        raise signing.SigningKeyError(
            f"AUDIT_SIGNING_KEY is key {kid}, which was retired at event #{known.valid_until_seq}; "
            f"the portal now signs with key {now}: put that key back in AUDIT_SIGNING_KEY"
        )
    if current is None:
        return key, _register_first_key(key, actor), False
    previous = signing.previous_key()
    if previous is None or signing.key_id(previous) != current.key_id:
        raise signing.SigningKeyError(
            f"AUDIT_SIGNING_KEY is key {kid}, but the portal signs with key {current.key_id}. "
            f"To rotate to {kid}, set AUDIT_SIGNING_KEY_PREVIOUS to the key {current.key_id} and "
            "run `manage.py audit_rotate_key`; to keep signing with it, put it back in "
            "AUDIT_SIGNING_KEY"
        )
    return key, _rotate(previous, key, current, actor), True


def _refuse_rewritten_chain(key: Any, head_seq: int, checked_seq: int = 0) -> None:
    """An outsider checks the public chain, which anyone can rebuild; only the HMACs and
    the portal's own checkpoints tell a rewrite or a cut, so the portal checks them (since
    its last checkpoint) before it signs.

    ``checked_seq``: the HMACs up to it were checked before the head was locked
    (``checked_before_locking``). Its own HMAC is checked again: a chain rebuilt since
    changed its public hash, which covers every event before it (a change below it that
    leaves it alone breaks the public chain, which every checker walks)."""
    since, gone = last_signed_checkpoint(key)
    if checked_seq > since and mac_holds(checked_seq):
        since = checked_seq
    rewritten = first_rewritten(since, head_seq)
    if rewritten is not None:
        gone = _rewritten(rewritten)
    if gone:
        raise _not_vouched(gone)


def _rewritten(seq: int) -> str:
    return (
        f"event #{seq} was changed after it was written (its hash does not match: "
        "the chain was rebuilt without the key)"
    )


def _not_vouched(gone: str) -> ChainNotVouched:
    return ChainNotVouched(
        f"{gone}, so the portal signs nothing: run `manage.py audit_verify` and restore "
        "the change log from a backup"
    )


def checked_before_locking() -> int:
    """Check the HMACs since the last signed checkpoint up to the head as it stands,
    before anything takes the head's lock: every audited change waits on that lock, and
    the first checkpoint of a long change log reads every event (a million events held
    every tick and job for seconds). Returns the seq checked up to, for
    ``checkpoint_sign`` (0 when nothing could be checked: it then checks all under the
    lock); raises ChainNotVouched for a rewritten event."""
    try:
        key = signing.configured_key()
    except signing.SigningKeyError:
        return 0  # signing_key_current says what is wrong, under the lock
    since, _gone = last_signed_checkpoint(key)  # a cut is told under the lock
    head = AuditChainHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0
    rewritten = first_rewritten(since, head)
    if rewritten is not None:
        raise _not_vouched(_rewritten(rewritten))
    return head


@transaction.atomic
def checkpoint_sign(
    *, reason: str, actor: Any = None, checked_seq: int | None = None
) -> AuditCheckpoint:
    """Sign the chain head as it stands now and keep a copy; send it out after commit.

    The head is locked while signing: the checkpoint covers exactly the events committed
    before it (and any key event this call recorded). The events before the head as it
    was are checked first, without the lock (``checked_before_locking``; a caller that
    takes the lock before calling this passes ``checked_seq`` from its own call).
    """
    if checked_seq is None:
        checked_seq = checked_before_locking()
    key, key_row, rotated = signing_key_current(actor=actor)
    seq, head_hash, public_hash = lock_head()
    _refuse_rewritten_chain(key, seq, checked_seq)
    now = timezone.now()
    document = signing.sign(
        {
            "type": "checkpoint",
            "format": signing.CHECKPOINT_FORMAT,
            "seq": seq,
            "public_hash": public_hash,
            "hash": head_hash,
            "at": canonical_time(now),
            "reason": reason,
            "key_id": key_row.key_id,
        },
        key,
    )
    checkpoint = AuditCheckpoint.objects.create(
        seq=seq,
        public_hash=public_hash,
        hash=head_hash,
        at=now,
        reason=reason,
        key_id=key_row.key_id,
        document=document,
    )
    rotation = key_row.rotation if rotated else None
    transaction.on_commit(
        lambda: checkpoint_signed.send(
            sender=AuditCheckpoint, document=document, rotation=rotation
        ),
        robust=True,
    )
    return checkpoint


def checkpoint_scheduled() -> AuditCheckpoint | None:
    """Beat's checkpoint: sign the head unless the newest checkpoint already covers it."""
    with transaction.atomic():
        checked = checked_before_locking()
        seq, _, public_hash = lock_head()
        latest = AuditCheckpoint.objects.order_by("-pk").first()
        if latest is not None and (latest.seq, latest.public_hash) == (seq, public_hash):
            return None
        return checkpoint_sign(reason=AuditCheckpoint.Reason.SCHEDULE, checked_seq=checked)


@transaction.atomic
def signing_key_rotate(*, actor: Any = None) -> AuditCheckpoint:
    """Rotate to AUDIT_SIGNING_KEY now (AUDIT_SIGNING_KEY_PREVIOUS being the current key),
    and sign the head with the new key. Refuses when there is nothing to rotate."""
    checked = checked_before_locking()
    lock_head()
    current = AuditSigningKey.objects.filter(valid_until_seq__isnull=True).first()
    if current is not None and current.key_id == signing.key_id(signing.configured_key()):
        raise signing.SigningKeyError(
            f"AUDIT_SIGNING_KEY is already the current key {current.key_id}: set it to the new "
            "key and AUDIT_SIGNING_KEY_PREVIOUS to this one, then rotate"
        )
    return checkpoint_sign(reason=AuditCheckpoint.Reason.ROTATION, actor=actor, checked_seq=checked)


@transaction.atomic
def audit_export_start(
    *, actor: Any, fmt: str, filters: dict[str, Any], project_ids: list[int]
) -> AuditCheckpoint:
    """Record an export (``audit.export`` in each project it covers) and sign the head that
    bounds it, in one transaction: the export's checkpoint covers its own events."""
    checked = checked_before_locking()
    audit_export_record(actor=actor, fmt=fmt, filters=filters, project_ids=project_ids)
    return checkpoint_sign(reason=AuditCheckpoint.Reason.EXPORT, actor=actor, checked_seq=checked)


def sign_manifest(document: dict[str, Any], checkpoint: AuditCheckpoint) -> dict[str, Any]:
    """``document`` (a manifest of files) signed with the key that signed ``checkpoint``."""
    key = signing.configured_key()
    if signing.key_id(key) != checkpoint.key_id:
        raise signing.SigningKeyError("the signing key changed while the pack was written")
    return signing.sign({**document, "key_id": checkpoint.key_id}, key)
