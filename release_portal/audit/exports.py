"""Exports of the change log an outsider can check: JSON Lines and CSV, streamed.

Format ``release-portal-audit/2``. An export covers a stretch of the chain, from the first
event matching its filter up to the chain head, and ends with a checkpoint of that head
signed with the portal's Ed25519 key. Events of that stretch the filter leaves out (other
projects', other releases'...) stay as placeholders: their seq and hashes, not their
content, so the chain still links. ``scripts/verify_changelog.py EXPORT --public-key
KEY.pem`` checks a file with nothing but the public key (see chain.py for the hashes).

**JSON Lines** (``application/x-ndjson``), one object a line:

- ``{"type": "export", "format", "exported_at", "exported_by", "filter", "head",
  "anchor", "keys", "key_id", "signature"}``, signed: ``anchor`` is the ``seq``,
  ``public_hash`` and ``hash`` of the event just before the first record (``seq`` 0 and
  zeros at the start of the chain); ``keys`` lists every signing key the portal has had,
  oldest first (``key_id``, ``public_key``, ``valid_from_seq``, ``valid_until_seq``, and
  ``rotation``: the statement that introduced it, signed by the key before it);
- ``{"type": "event", ...the event's canonical fields..., "digest", "public_hash",
  "hash"}``: the event exactly as hashed (``at`` as ``2026-01-02T03:04:05.000006Z``,
  ``data`` an object). Its canonical form is the line without ``type``, ``digest``,
  ``public_hash`` and ``hash``, written back as sorted compact JSON;
- ``{"type": "omitted", "seq", "digest", "public_hash", "hash"}`` for an event the
  filter leaves out;
- last, ``{"type": "checkpoint", "seq", "public_hash", "hash", "at", "reason", "key_id",
  "signature", ...}``: the signed head. A file without it was cut short.

**CSV** (``text/csv``, UTF-8, RFC 4180 quoting): a header row, then one row per record
with ``record`` = ``anchor``, ``event``, ``omitted`` or ``checkpoint``, and the columns of
``CSV_COLUMNS``. An event row holds its fields (``data`` as compact sorted JSON; ``form``
1 rows have no ``release_repr``); ``anchor``, ``omitted`` and ``checkpoint`` rows hold
``seq`` and the hashes; the signed header (anchor row) and the signed checkpoint
(checkpoint row) are also in ``data``, as JSON. A
text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab, a carriage return or ``'``
gets a leading ``'`` so a spreadsheet never runs it as a formula; remove one leading
``'`` to get the value back (the verifier does).

Rows are read through a server-side cursor in one REPEATABLE READ snapshot, bounded by
the signed head, so events written while the download runs never make it disagree with
its checkpoint, and memory stays the same whatever the size.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, F, Min, Q, TextField, Value, When

from release_portal.audit import signing
from release_portal.audit.chain import FORM2_FIELDS, canonical_time
from release_portal.audit.models import (
    GENESIS_HASH,
    AuditCheckpoint,
    AuditEvent,
    AuditSigningKey,
)
from release_portal.audit.selectors import ChainHead

FORMAT = "release-portal-audit/2"
CSV_COLUMNS = ["record", *FORM2_FIELDS, "digest", "public_hash", "hash"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")
CHUNK_SIZE = 2000  # rows fetched per round trip of the server-side cursor
ROWS_PER_WRITE = 500  # rows per chunk handed to the web server


@dataclass(frozen=True)
class ExportFrame:
    """What frames an export: the signed head it is bounded by, the filter, who and when."""

    head: ChainHead
    checkpoint: dict[str, Any]  # the signed checkpoint document of ``head``
    filters: dict[str, Any]
    exported_at: datetime
    exported_by: str


@dataclass(frozen=True)
class Record:
    kind: str  # "event" or "omitted"
    seq: int
    digest: str
    public_hash: str
    hash: str
    canonical: str | None  # events only


def _snapshot() -> None:
    if not connection.in_atomic_block:
        return
    # Only our own transaction can choose its snapshot (not a savepoint in a test).
    if connection.savepoint_ids:
        return
    with connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


def _anchor(start: int) -> dict[str, Any]:
    if start <= 1:
        return {"seq": 0, "public_hash": GENESIS_HASH, "hash": GENESIS_HASH}
    row = AuditEvent.objects.filter(seq=start - 1).values("seq", "public_hash", "hash").first()
    return dict(row) if row else {"seq": start - 1, "public_hash": "", "hash": ""}


def chain_records(scope: Q, head_seq: int) -> tuple[dict[str, Any], Iterator[Record]]:
    """The anchor, and every event from the first one in ``scope`` to ``head_seq``: those in
    scope with their canonical form, the others as placeholders. Call inside a transaction
    (the cursor is server-side)."""
    scope = scope or Q(seq__gte=0)  # an empty Q() is "everything"
    start = (
        AuditEvent.objects.filter(scope, seq__lte=head_seq).aggregate(first=Min("seq"))["first"]
        or head_seq + 1
    )
    rows = (
        AuditEvent.objects.filter(seq__gte=start, seq__lte=head_seq)
        .annotate(
            shown=Case(
                When(scope, then=F("canonical")), default=Value(None), output_field=TextField()
            )
        )
        .order_by("seq")
        .values_list("seq", "digest", "public_hash", "hash", "shown")
    )
    sql, params = rows.query.get_compiler(using=connection.alias).as_sql()

    def records() -> Iterator[Record]:
        connection.ensure_connection()
        raw = connection.connection
        assert raw is not None
        with raw.cursor(name="audit_export") as cursor:
            cursor.itersize = CHUNK_SIZE
            cursor.execute(sql, params)
            for seq, digest, public_hash, hash_, shown in cursor:
                kind = "omitted" if shown is None else "event"
                yield Record(kind, seq, digest, public_hash, hash_, shown)

    return _anchor(start), records()


def key_records() -> list[dict[str, Any]]:
    return [
        {
            "key_id": key.key_id,
            "public_key": key.public_key,
            "valid_from_seq": key.valid_from_seq,
            "valid_until_seq": key.valid_until_seq,
            "rotation": key.rotation,
        }
        for key in AuditSigningKey.objects.order_by("valid_from_seq", "pk")
    ]


def _header(frame: ExportFrame, anchor: dict[str, Any]) -> dict[str, Any]:
    """The export's first record, signed with the key that signed its checkpoint."""
    key = signing.configured_key()
    if signing.key_id(key) != frame.checkpoint["key_id"]:
        raise signing.SigningKeyError("the signing key changed while the export was written")
    header = {
        "type": "export",
        "format": FORMAT,
        "exported_at": canonical_time(frame.exported_at),
        "exported_by": frame.exported_by,
        "filter": frame.filters,
        "head": frame.head.as_dict(),
        "anchor": anchor,
        "keys": key_records(),
        "key_id": frame.checkpoint["key_id"],
    }
    return signing.sign(header, key)


# --- JSON Lines -------------------------------------------------------------------------------


def _line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"


def _record_line(record: Record) -> str:
    if record.canonical is None:
        return (
            f'{{"type":"omitted","seq":{record.seq},"digest":"{record.digest}",'
            f'"public_hash":"{record.public_hash}","hash":"{record.hash}"}}\n'
        )
    # The stored canonical form is spliced in as it is: nothing is serialised again.
    return (
        f'{{"type":"event",{record.canonical[1:-1]},"digest":"{record.digest}",'
        f'"public_hash":"{record.public_hash}","hash":"{record.hash}"}}\n'
    )


def jsonl_chunks(scope: Q, frame: ExportFrame) -> Iterator[bytes]:
    with transaction.atomic():
        _snapshot()
        anchor, records = chain_records(scope, frame.head.seq)
        yield _line(_header(frame, anchor)).encode()
        lines: list[str] = []
        for record in records:
            lines.append(_record_line(record))
            if len(lines) == ROWS_PER_WRITE:
                yield "".join(lines).encode()
                lines.clear()
        lines.append(_line(frame.checkpoint))
        yield "".join(lines).encode()


# --- CSV --------------------------------------------------------------------------------------


def csv_safe(value: Any) -> str:
    """A cell a spreadsheet shows as text: never a formula."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _csv_row(kind: str, **cells: Any) -> list[str]:
    return [kind, *(csv_safe(cells.get(name)) for name in CSV_COLUMNS[1:])]


_DATA_KEY = ',"data":'
_decoder = json.JSONDecoder()


def _csv_record(record: Record) -> list[str]:
    hashes = {"digest": record.digest, "public_hash": record.public_hash, "hash": record.hash}
    canonical = record.canonical
    if canonical is None:
        return _csv_row("omitted", seq=record.seq, **hashes)
    fields = json.loads(canonical)
    # ``data`` as the canonical form already writes it (sorted, compact): cut out, not
    # written again. A key cannot hide inside a string value: quotes there are escaped.
    start = canonical.index(_DATA_KEY) + len(_DATA_KEY)
    fields["data"] = canonical[start : _decoder.raw_decode(canonical, start)[1]]
    return _csv_row("event", **fields, **hashes)


def csv_chunks(scope: Q, frame: ExportFrame) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> bytes:
        out = buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
        return out

    with transaction.atomic():
        _snapshot()
        anchor, records = chain_records(scope, frame.head.seq)
        writer.writerow(CSV_COLUMNS)
        writer.writerow(_csv_row("anchor", seq=anchor["seq"], public_hash=anchor["public_hash"],
                                 hash=anchor["hash"], data=_header(frame, anchor)))  # fmt: skip
        yield flush()
        for count, record in enumerate(records, start=1):
            writer.writerow(_csv_record(record))
            if count % ROWS_PER_WRITE == 0:
                yield flush()
        checkpoint = frame.checkpoint
        writer.writerow(
            _csv_row(
                "checkpoint", seq=checkpoint["seq"], at=checkpoint["at"],
                public_hash=checkpoint["public_hash"], hash=checkpoint["hash"], data=checkpoint,
            )
        )  # fmt: skip
        yield flush()


# --- a release's stretch of the chain, and the offline checker -----------------------------


def release_export_chunks(release: Any, checkpoint: AuditCheckpoint) -> Iterator[bytes]:
    """JSON Lines of the chain from ``release``'s first event to ``checkpoint``'s head: its
    events, placeholders for the others (for its evidence pack)."""
    frame = ExportFrame(
        head=ChainHead(checkpoint.seq, checkpoint.hash, checkpoint.public_hash),
        checkpoint=checkpoint.document,
        filters={"release": release.pk, "projects": [release.project_id]},
        exported_at=checkpoint.at,
        exported_by="evidence pack",
    )
    return jsonl_chunks(Q(release_id=release.pk, project_id=release.project_id), frame)


OFFLINE_SCRIPT = Path(settings.BASE_DIR) / "scripts" / "verify_changelog.py"


def offline_script() -> bytes:
    """scripts/verify_changelog.py, which checks exports with nothing but a public key."""
    return OFFLINE_SCRIPT.read_bytes()
