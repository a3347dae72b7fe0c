"""Checking the whole chain against the key, and against a head hash copied elsewhere."""

from __future__ import annotations

from release_portal.audit.chain import HASHED_FIELDS, VerifyResult, iter_rows, verify_events
from release_portal.audit.models import AuditChainHead, AuditEvent
from release_portal.audit.services import hmac_key

COLUMNS = [*HASHED_FIELDS, "hash"]


def audit_verify(*, expect_head: str | None = None, chunk_size: int = 5000) -> VerifyResult:
    """Verify every event in seq order, streaming (constant memory on millions of events).

    Beyond each link, the newest event must match the chain head row, and, when given,
    ``expect_head`` (a head hash printed in an earlier report or export) must be the hash
    of some event: if the newest events were removed, that copy no longer matches.
    """
    rows = AuditEvent.objects.order_by("seq").values_list(*COLUMNS).iterator(chunk_size=chunk_size)
    result = verify_events(hmac_key(), iter_rows(rows, COLUMNS))
    if not result.ok:
        return result
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is not None and (head.seq, head.hash) != (result.head_seq, result.head_hash):
        return VerifyResult(
            False,
            result.checked,
            result.head_seq,
            result.head_hash,
            f"the chain head says #{head.seq} but the newest event is #{result.head_seq}: "
            "events at the end were removed, or the head was changed",
            result.head_seq + 1,
        )
    if (
        expect_head
        and expect_head != result.head_hash
        and not AuditEvent.objects.filter(hash=expect_head).exists()
    ):
        return VerifyResult(
            False,
            result.checked,
            result.head_seq,
            result.head_hash,
            f"head hash {expect_head[:16]}... from an earlier report is not in the chain: "
            "events it covered were removed or rewritten",
            None,
        )
    return result
