"""Checking the whole chain against the key, and against a head hash copied elsewhere.

``audit_verify`` reads every event once, in seq order, inside one REPEATABLE READ snapshot
(the head row and the events agree even while others write):

1. the table still holds the CHECK constraint that ties the columns to the canonical form
   (when it was removed, a full scan finds rows whose columns say something else than
   what their hashes cover);
2. form-1 events (written before the public chain) have their HMAC over the canonical
   form checked one by one, in Python;
3. every event, streamed by ``COPY (SELECT ...) TO STDOUT (FORMAT binary)``: PostgreSQL
   sends the rows as fast as they are read (no FETCH round trips, no text escaping), each
   one the four stored hashes and the stored canonical form's UTF-8 bytes, which one
   ``struct`` call splits. Python hashes the canonical form (it must equal ``digest``),
   chains the digest into the public hash (it must equal ``public_hash``), checks
   that ``prev_hash`` is the previous event's HMAC and that ``hash`` is this event's
   HMAC over its public hash. Every HMAC, not only the newest: once someone rebuilt the
   public chain without the key, the portal's next event carries a good HMAC over the
   rebuilt public hash, so the newest HMAC alone would vouch for the rewrite. Nothing is
   serialised again or decoded: two SHA-256 and one HMAC per event, and a million events
   take a few seconds of one core (tests/bench/bench_audit.py measures it);
4. the HMAC of the newest event (form 1 included). When it fails, a binary search over
   the stored HMACs names the first event whose HMAC does not match;
5. the newest checkpoint the portal's key signed still names an event with its hashes: a
   chain whose newest events were deleted and its head moved back is otherwise intact.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import struct
from collections.abc import Callable, Generator, Iterable
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.models import Case, F, QuerySet, When
from django.db.models.expressions import RawSQL

from release_portal.audit import signing
from release_portal.audit.chain import (
    CANONICAL_CHECK,
    CANONICAL_CHECK_SQL,
    ZERO,
    VerifyResult,
    form2_mac,
)
from release_portal.audit.models import GENESIS_HASH, AuditCheckpoint, AuditEvent
from release_portal.audit.services import hmac_key

PROGRESS_EVERY = 50_000  # events between two progress reports

Progress = Callable[[int, int], None]  # (checked, total)

# Every event up to the newest, oldest first, as binary COPY rows: four hex hashes (64
# bytes each), then the canonical form as UTF-8 whatever the client encoding. COPY takes
# no parameters: ``newest`` is formatted as an integer.
_LINKS_COPY = (
    "COPY (SELECT digest, public_hash, prev_hash, hash, convert_to(canonical, 'UTF8') "
    "FROM audit_auditevent WHERE seq <= {newest:d} ORDER BY seq) TO STDOUT (FORMAT binary)"
)
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"  # then flags (4 bytes), extension length (4), extension
# A row: its field count (5), and each field's length and bytes. Rows whose hashes are not
# 64 bytes long (only a changed row) are split field by field instead (_fields).
_ROW = struct.Struct(">hi64si64si64si64si")
_CANONICAL_AT = _ROW.size
_TRAILER_SIZE = 2  # the field count -1 that ends a binary COPY


class _Broken(Exception):
    def __init__(self, seq: int | None, problem: str) -> None:
        super().__init__(problem)
        self.seq = seq
        self.problem = problem


def _changed(seq: int, why: str = "its hash does not match") -> _Broken:
    return _Broken(seq, f"event #{seq} was changed after it was written ({why})")


def _constraint_in_place() -> bool:
    """The CHECK constraint exists, is validated, and is exactly ours (as this server
    prints it for a probe table with the same columns)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT convalidated, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'audit_auditevent'::regclass AND conname = %s",
            [CANONICAL_CHECK],
        )
        found = cursor.fetchone()
        cursor.execute(
            "CREATE TEMPORARY TABLE audit_check_probe (LIKE audit_auditevent) ON COMMIT DROP"
        )
        cursor.execute(
            f"ALTER TABLE audit_check_probe ADD CONSTRAINT probe CHECK {CANONICAL_CHECK_SQL}"
        )
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'audit_check_probe'::regclass AND conname = 'probe'"
        )
        expected = cursor.fetchone()[0]
        cursor.execute("DROP TABLE audit_check_probe")
    return found is not None and found[0] and found[1] == expected


def _first_disagreeing_row(newest: int) -> _Broken:
    """Without the constraint, rows may have been changed beside their canonical form:
    find the first (a full scan, only on this path)."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"SELECT min(seq) FROM audit_auditevent WHERE seq <= %s "  # noqa: S608
                f"AND NOT coalesce({CANONICAL_CHECK_SQL}, false)",
                [newest],
            )
            seq = cursor.fetchone()[0]
    except DatabaseError:  # a canonical form that is not JSON: the digests tell which
        seq = None
    if seq is None:
        return _Broken(
            None,
            f"the database no longer holds the {CANONICAL_CHECK} constraint as the portal "
            "created it, which keeps each row's columns equal to what its hashes cover",
        )
    return _Broken(
        seq,
        f"event #{seq} was changed after it was written (its columns no longer say what its "
        f"hashes cover, and the {CANONICAL_CHECK} constraint was removed)",
    )


def _fields(row: memoryview | bytes) -> tuple[bytes, bytes, bytes, bytes, bytes]:
    """Split a binary COPY row of _LINKS_COPY field by field (NULL as empty)."""
    data = bytes(row)
    count, at, fields = int.from_bytes(data[:2], signed=True), 2, []
    for _ in range(count):
        size = int.from_bytes(data[at : at + 4], signed=True)
        at += 4
        fields.append(data[at : at + max(size, 0)])
        at += max(size, 0)
    if count != 5 or at != len(data):
        raise DatabaseError(f"unexpected binary COPY row: {count} fields, {len(data)} bytes")
    digest, public_hash, prev_hash, mac, canonical = fields
    return digest, public_hash, prev_hash, mac, canonical


class ChainWalk:
    """The walk's position: the last good event's seq and hashes."""

    def __init__(
        self, progress: Progress | None, total: int, key: bytes = b"", first_form2: int = 1
    ) -> None:
        self.progress = progress
        self.total = total
        self.key = key
        # Form-1 events (before the public chain) have their HMAC over the canonical form,
        # checked by _check_form1; the walk checks the HMAC of every event from this seq on.
        self.first_form2 = first_form2
        self.checked = 0
        self.hash = GENESIS_HASH
        self.public = ZERO

    def links(self, rows: Iterable[memoryview | bytes]) -> bool:
        """Walk the binary COPY rows of _LINKS_COPY, in seq order. Stop at the first bad
        one and return False: it is event number ``self.checked + 1`` in seq order."""
        sha256, hexlify, unpack, at = (
            hashlib.sha256,
            binascii.hexlify,
            _ROW.unpack_from,
            _CANONICAL_AT,
        )
        public, prev_mac = self.public, self.hash.encode()
        checked, progress, every = self.checked, self.progress, PROGRESS_EVERY
        key, form1_count, hmac_digest = self.key, self.first_form2 - 1, hmac.digest
        try:
            for row in rows:
                try:
                    count, n1, digest, n2, public_hash, n3, prev_hash, n4, mac, size = unpack(row)
                except struct.error:  # shorter than four 64-byte hashes: a changed row
                    count = 0
                if count == 5 and n1 == n2 == n3 == n4 == 64 and size == len(row) - at:
                    computed = sha256(row[at:]).digest()
                else:  # a hash of another length: only a changed row has one
                    digest, public_hash, prev_hash, mac, canonical = _fields(row)
                    computed = sha256(canonical).digest()
                if prev_hash != prev_mac or hexlify(computed) != digest:
                    return False
                public = sha256(public + computed).digest()
                if hexlify(public) != public_hash:
                    return False
                if checked >= form1_count and hexlify(hmac_digest(key, public, "sha256")) != mac:
                    return False
                prev_mac = mac
                checked += 1
                if progress is not None and checked % every == 0:
                    progress(checked, self.total)
        finally:
            self.checked, self.public = checked, public
            self.hash = prev_mac.decode(errors="replace")
        return True

    def result(self, ok: bool = True, problem: str = "", seq: int | None = None) -> VerifyResult:
        return VerifyResult(
            ok, self.checked, self.checked, self.hash, problem, seq, public_hash=self.public.hex()
        )


def _copy_rows(raw: Any, newest: int) -> Generator[memoryview]:
    """The rows of _LINKS_COPY, one binary COPY row each, as PostgreSQL streams them.

    psycopg's Copy starts and ends the COPY (errors, the final result); rows are taken
    straight from libpq while they are there, and through ``Copy.read`` (which waits for
    the server) when none is. Running to the end leaves the connection ready, so a caller
    that stopped reading drains the rest rather than cancelling (which would abort the
    transaction whose snapshot it still needs).
    """
    with raw.cursor() as cursor, cursor.copy(_LINKS_COPY.format(newest=int(newest))) as copy:
        get = raw.pgconn.get_copy_data
        first = memoryview(copy.read())
        if first[:11] != _COPY_SIGNATURE:
            raise DatabaseError("unexpected COPY header")
        row = first[19 + int.from_bytes(first[15:19]) :]  # after the header's extension
        size = len(row)
        while size != _TRAILER_SIZE:
            yield row
            size, row = get(1)
            if size <= 0:
                if size < 0:  # the COPY ended without its trailer, or the connection broke
                    raise DatabaseError(f"COPY interrupted: {raw.pgconn.error_message!r}")
                row = memoryview(copy.read())  # nothing buffered: wait for the server
                size = len(row)
        if copy.read():  # the final result: the COPY ended as it should
            raise DatabaseError("unexpected data after the COPY trailer")


def _diagnose(position: int, key: bytes) -> _Broken:
    """Say what is wrong with the ``position``-th event in seq order (1-based)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT seq, prev_hash, hash, digest, public_hash, "
            "encode(pg_catalog.sha256(convert_to(canonical, 'UTF8')), 'hex') "
            "FROM audit_auditevent ORDER BY seq OFFSET %s LIMIT 1",
            [max(position - 2, 0)],
        )
        rows = cursor.fetchall()
        cursor.execute(
            "SELECT seq, prev_hash, hash, digest, public_hash, "
            "encode(pg_catalog.sha256(convert_to(canonical, 'UTF8')), 'hex') "
            "FROM audit_auditevent ORDER BY seq OFFSET %s LIMIT 1",
            [position - 1],
        )
        rows += cursor.fetchall()
    before = rows[0] if position > 1 else None
    seq, prev_hash, _, digest, _, computed = rows[-1]
    last_seq = before[0] if before else 0
    if seq != last_seq + 1:
        kind = "missing" if seq > last_seq + 1 else "duplicated or out of order"
        return _Broken(
            last_seq + 1, f"event #{last_seq + 1} is {kind}: found #{seq} after #{last_seq}"
        )
    if computed != digest:
        return _changed(seq, "its digest does not match")
    if prev_hash != (before[2] if before else GENESIS_HASH):
        problem = f"event #{seq} does not link to event #{last_seq}"
        return _Broken(seq, f"{problem} (inserted, deleted or reordered)")
    if _public_link_ok(before[4] if before else GENESIS_HASH, digest, rows[-1][4]) and not (
        _mac_ok(key, seq)
    ):
        return _changed(seq, "its hash does not match: the chain was rebuilt without the key")
    problem = f"event #{seq} does not follow the public chain"
    return _Broken(seq, f"{problem} (inserted, deleted, reordered or rewritten)")


def _public_link_ok(prev_public: str, digest: str, public_hash: str) -> bool:
    try:
        return hashlib.sha256(bytes.fromhex(prev_public) + bytes.fromhex(digest)).hexdigest() == (
            public_hash
        )
    except ValueError:  # a hash that is not hexadecimal
        return False


def _first_form2(newest: int) -> int:
    """The seq from which events carry an HMAC over their public hash (form 2)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT min(seq) FROM audit_auditevent WHERE form <> 1 AND seq <= %s", [newest]
        )
        first = cursor.fetchone()[0]
    return newest + 1 if first is None else first


def _check_form1(key: bytes, head_seq: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT seq, canonical, hash FROM audit_auditevent "
            "WHERE form = 1 AND seq <= %s ORDER BY seq",
            [head_seq],
        )
        for seq, canonical, stored in cursor:
            mac = hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(mac, stored):
                raise _changed(seq)


def _mac_ok(key: bytes, seq: int) -> bool:
    """Whether event ``seq``'s stored HMAC is its own (over its public hash, or form 1's
    canonical form)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT form, canonical, public_hash, hash FROM audit_auditevent WHERE seq = %s", [seq]
        )
        row = cursor.fetchone()
    return row is not None and _own_mac(key, *row)


def mac_holds(seq: int) -> bool:
    """Whether event ``seq``'s stored HMAC is still its own."""
    return _mac_ok(hmac_key(), seq)


def _own_mac(key: bytes, form: int, canonical: str | None, public_hash: str, stored: str) -> bool:
    if form == 1:
        mac = hmac.new(key, (canonical or "").encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(mac, stored)
    try:
        return hmac.compare_digest(form2_mac(key, public_hash), stored)
    except ValueError:  # a public hash that is not hexadecimal
        return False


def first_rewritten(after_seq: int, head_seq: int) -> int | None:
    """The first event after ``after_seq`` up to ``head_seq`` whose stored HMAC is not its
    own (an event rewritten without the key, or one the portal wrote on top of such a
    rewrite), or None. One HMAC per event, read in chunks through a server-side cursor."""
    key = hmac_key()
    rows = (
        AuditEvent.objects.filter(seq__gt=after_seq, seq__lte=head_seq)
        .order_by("seq")
        # Only form 1's HMAC covers the canonical form: the others' is not read.
        .annotate(form1_canonical=Case(When(form=1, then=F("canonical")), default=None))
        .values_list("seq", "form", "form1_canonical", "public_hash", "hash")
    )
    for seq, *row in rows.iterator(chunk_size=2000):
        if not _own_mac(key, *row):
            return int(seq)
    return None


def last_signed_checkpoint(key: Any) -> tuple[int, str]:
    """The seq of the newest checkpoint this key signed (0 when none): the events up to it
    were checked when it was signed. Rows are trusted only through their signature (the
    database may have been written). When that checkpoint's event is gone or changed:
    0, and what is wrong."""
    keys = [key.public_key()] + [k.public_key() for k in [signing.previous_key()] if k]
    for document in AuditCheckpoint.objects.order_by("-seq", "-pk").values_list(
        "document", flat=True
    )[:20]:
        if not any(signing.verify(document, public) for public in keys):
            continue
        seq = int(document["seq"])
        if AuditEvent.objects.filter(
            seq=seq, public_hash=document["public_hash"], hash=document["hash"]
        ).exists():
            return seq, ""
        return 0, (
            f"the change log no longer holds event #{seq} as the portal signed it at "
            f"{document['at']}: events were removed or rewritten since"
        )
    return 0, ""


def _cut_below_a_checkpoint() -> str:
    """What is wrong when the newest checkpoint the portal signed names an event that is
    gone or changed (the events after a head moved back are not missing to the walk)."""
    try:
        key = signing.configured_key()
    except signing.SigningKeyError:  # nothing can have been signed with no key
        return ""
    return last_signed_checkpoint(key)[1]


def _check_newest_mac(key: bytes, newest: int) -> None:
    if newest == 0 or _mac_ok(key, newest):
        return
    low, high = 1, newest  # the first event whose HMAC fails is in [low, high]
    while low < high:
        middle = (low + high) // 2
        if _mac_ok(key, middle):
            low = middle + 1
        else:
            high = middle
    raise _changed(low, "its hash does not match: the chain was rebuilt without the key")


def _mac_before(key: bytes, broken: _Broken) -> _Broken:
    """Event N fails to link, or its columns disagree: when the stored HMAC of event N-1 is
    not its own, the first bad event is N-1 (its hash was rewritten to match)."""
    seq = broken.seq
    if seq is None or seq < 2 or _mac_ok(key, seq - 1):
        return broken
    return _Broken(
        seq - 1, f"event #{seq - 1} was changed after it was written (its hash does not match)"
    )


def _broken_at(broken: _Broken) -> VerifyResult:
    """The result when event ``broken.seq`` is the first bad one: the events before it
    verified, and the last good link is the event before it."""
    seq = broken.seq or 1
    before = AuditEvent.objects.filter(seq=seq - 1).values_list("hash", "public_hash").first()
    mac, public = before or (GENESIS_HASH, GENESIS_HASH)
    return VerifyResult(False, seq - 1, seq - 1, mac, broken.problem, seq, public_hash=public)


def _walk(walk: ChainWalk, newest: int) -> None:
    connection.ensure_connection()
    raw = connection.connection
    assert raw is not None
    rows = _copy_rows(raw, newest)
    try:
        intact = walk.links(rows)
        if not intact:
            for _ in rows:  # read to the end: the transaction stays usable for the diagnosis
                pass
    finally:
        rows.close()  # on an error: psycopg cancels the COPY, the connection is usable again
    if not intact:
        raise _diagnose(walk.checked + 1, walk.key)
    if walk.checked != newest:
        missing = walk.checked + 1
        raise _Broken(
            missing, f"event #{missing} is missing: {walk.checked} events lead up to #{newest}"
        )


def audit_verify(
    *, expect_head: str | None = None, progress: Progress | None = None
) -> VerifyResult:
    """Verify every event in seq order, streaming (constant memory on millions of events).

    Each event must match its digest, follow the one before it (seq, public hash and HMAC
    link), and the chain's HMACs must hold; the newest event must be the chain head; and,
    when given, ``expect_head`` (a head hash printed in an earlier report, export or
    checkpoint: HMAC or public) must be the hash of some event: if the newest events were
    removed, that copy no longer matches. ``progress(checked, total)`` is called every
    50,000 events.
    """
    key = hmac_key()
    own_transaction = not connection.in_atomic_block
    with transaction.atomic():
        if own_transaction:  # one snapshot for the head and every event
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        with connection.cursor() as cursor:
            cursor.execute("SELECT seq, hash, public_hash FROM audit_auditchainhead WHERE id = 1")
            head = cursor.fetchone()
            cursor.execute("SELECT coalesce(max(seq), 0) FROM audit_auditevent")
            newest = cursor.fetchone()[0]
        walk = ChainWalk(progress, newest, key, _first_form2(newest))
        guarded = _constraint_in_place()
        try:
            _check_form1(key, newest)
            _walk(walk, newest)
            _check_newest_mac(key, newest)
        except _Broken as broken:
            if not guarded:
                beside = _first_disagreeing_row(newest)
                if beside.seq is not None and (broken.seq is None or beside.seq < broken.seq):
                    broken = beside
            return _broken_at(_mac_before(key, broken))
        if not guarded:
            beside = _first_disagreeing_row(newest)
            if beside.seq is not None:
                return _broken_at(_mac_before(key, beside))
        if head is not None and (head[0], head[1], head[2]) != (
            newest,
            walk.hash,
            walk.public.hex(),
        ):
            return walk.result(
                False,
                f"the chain head says #{head[0]} but the newest event is #{newest}: "
                "events at the end were removed, or the head was changed",
                newest + 1,
            )
        cut = _cut_below_a_checkpoint()
        if cut:
            return walk.result(False, cut)
        if expect_head and expect_head not in (walk.hash, walk.public.hex()):
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT 1 FROM audit_auditevent WHERE hash = %s OR public_hash = %s LIMIT 1",
                    [expect_head, expect_head],
                )
                found = cursor.fetchone() is not None
            if not found:
                # The events all link up: either the hash was not copied whole from this
                # portal, or what it covered is gone. Said both ways, the likelier first.
                return walk.result(
                    False,
                    f"the head hash given ({expect_head[:16]}...) is not in the chain: check it "
                    "was copied whole from this portal's report, export or checkpoint; if it "
                    "was, the events it covered were removed or rewritten",
                )
        if not guarded:  # every row agrees, but nothing keeps them so any more
            return walk.result(False, beside.problem, None)
    if progress is not None:
        progress(walk.checked, walk.total)
    return walk.result()


def events_in_chain(events: QuerySet[AuditEvent], verified: VerifyResult) -> list[dict[str, Any]]:
    """Place each of ``events`` in the chain (for a release's evidence pack): whether its
    columns and hashes match its content, whether it links to the event before it, and
    whether it lies inside the part of the chain ``verified`` vouches for."""
    key = hmac_key()
    rows = list(
        events.order_by("seq")
        # A constant expression of our own, no user input: the CHECK constraint's test.
        .annotate(columns_match=RawSQL(f"coalesce({CANONICAL_CHECK_SQL}, false)", []))  # noqa: S611
        .values_list(
            "seq",
            "action",
            "form",
            "canonical",
            "digest",
            "public_hash",
            "prev_hash",
            "hash",
            "columns_match",
        )
    )
    wanted = {row[0] - 1 for row in rows if row[0] > 1}
    previous = {
        seq: (public_hash, hash_)
        for seq, public_hash, hash_ in AuditEvent.objects.filter(seq__in=wanted).values_list(
            "seq", "public_hash", "hash"
        )
    }
    previous[0] = (GENESIS_HASH, GENESIS_HASH)
    inside = verified.head_seq if verified.ok else (verified.seq or 1) - 1
    checks = []
    for seq, action, form, canonical, digest, public_hash, prev_hash, hash_, columns_match in rows:
        content = canonical.encode()
        mac_input = content if form == 1 else bytes.fromhex(public_hash or "00")
        matches = (
            columns_match
            and hashlib.sha256(content).hexdigest() == digest
            and hmac.compare_digest(hmac.new(key, mac_input, hashlib.sha256).hexdigest(), hash_)
        )
        prev_public, prev_mac = previous.get(seq - 1, ("", ""))
        links = (
            prev_mac == prev_hash
            and prev_public != ""
            and public_hash
            == (
                hashlib.sha256(
                    bytes.fromhex(prev_public) + bytes.fromhex(digest or "00")
                ).hexdigest()
            )
        )
        checks.append(
            {
                "seq": seq,
                "action": action,
                "hash": hash_,
                "public_hash": public_hash,
                "hash_matches_content": bool(matches),
                "links_to_previous": bool(links),
                "inside_verified_chain": seq <= inside,
            }
        )
    return checks
