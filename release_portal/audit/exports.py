"""Exporting the change log as CSV and as JSON Lines, streamed in constant memory.

Both formats (``release-portal-audit/1``) hold every stored field of each event in
``seq`` order, so the hashes can be checked again elsewhere, and are framed by the chain
head at export time (seq and hash) and the filter used. Events are read through a
server-side cursor and bounded by the head taken at the start, so events written while
the download runs never make it disagree with the head it states.

**JSON Lines** (``application/x-ndjson``), one object a line:

- first ``{"type": "export", "format", "exported_at", "exported_by", "filter", "head"}``;
- then ``{"type": "event", "seq", "at", "actor_kind", ..., "data", "prev_hash", "hash"}``,
  with ``at`` in the canonical form the hash covers (``2026-01-02T03:04:05.000006Z``)
  and ``data`` as the JSON object, exactly as stored: these lines can be re-hashed;
- last ``{"type": "head", "seq", "hash", "count", "filter"}``. A file without this line
  was cut short.

**CSV** (``text/csv``, UTF-8, RFC 4180 quoting), a header row then one row per event:
``record`` (``event``), then the fields above, ``data`` as compact JSON. The last row has
``record`` = ``head``: ``seq`` and ``hash`` are the chain head, ``at`` the export time,
``actor_name`` who exported, ``action`` ``audit.export`` and ``data`` the filter and
row count as JSON. The head and filter are also sent first, in the response headers
``X-Audit-Head-Seq``, ``X-Audit-Head-Hash`` and ``X-Audit-Filter``. A text cell that
starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'`` so
a spreadsheet never runs it as a formula; re-hash from the JSON Lines export instead,
which carries the exact values.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from release_portal.audit.chain import canonical_time
from release_portal.audit.models import AuditEvent
from release_portal.audit.selectors import ChainHead
from release_portal.audit.verify import COLUMNS

FORMAT = "release-portal-audit/1"
CSV_COLUMNS = ["record", *COLUMNS]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK_SIZE = 2000  # rows fetched per round trip of the server-side cursor
ROWS_PER_WRITE = 500  # rows per chunk handed to the web server


@dataclass(frozen=True)
class ExportFrame:
    """What frames an export: the head it is bounded by, the filter, who and when."""

    head: ChainHead
    filters: dict[str, Any]
    exported_at: datetime
    exported_by: str


def event_dicts(
    events: QuerySet[AuditEvent], head: ChainHead | None = None
) -> Iterator[dict[str, Any]]:
    """The events (up to ``head``), oldest first, as dicts, through a server-side cursor."""
    if head is not None:
        events = events.filter(seq__lte=head.seq)
    rows = events.order_by("seq").values_list(*COLUMNS).iterator(chunk_size=CHUNK_SIZE)
    for row in rows:
        event = dict(zip(COLUMNS, row, strict=True))
        event["at"] = canonical_time(event["at"])
        yield event


def csv_safe(value: Any) -> str:
    """A cell a spreadsheet shows as text: never a formula."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_chunks(events: QuerySet[AuditEvent], frame: ExportFrame) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for event in event_dicts(events, frame.head):
        writer.writerow(["event", *(csv_safe(event[name]) for name in COLUMNS)])
        count += 1
        if count % ROWS_PER_WRITE == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    trailer: dict[str, Any] = dict.fromkeys(COLUMNS, "")
    trailer.update(
        seq=frame.head.seq,
        at=canonical_time(frame.exported_at),
        actor_name=frame.exported_by,
        action="audit.export",
        data={"format": FORMAT, "filter": frame.filters, "count": count},
        hash=frame.head.hash,
    )
    writer.writerow(["head", *(csv_safe(trailer[name]) for name in COLUMNS)])
    yield buffer.getvalue().encode()


def _line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"


def jsonl_chunks(events: QuerySet[AuditEvent], frame: ExportFrame) -> Iterator[bytes]:
    yield _line(
        {
            "type": "export",
            "format": FORMAT,
            "exported_at": canonical_time(frame.exported_at),
            "exported_by": frame.exported_by,
            "filter": frame.filters,
            "head": frame.head.as_dict(),
        }
    ).encode()
    lines: list[str] = []
    count = 0
    for event in event_dicts(events, frame.head):
        lines.append(_line({"type": "event", **event}))
        count += 1
        if len(lines) == ROWS_PER_WRITE:
            yield "".join(lines).encode()
            lines.clear()
    lines.append(
        _line({"type": "head", **frame.head.as_dict(), "count": count, "filter": frame.filters})
    )
    yield "".join(lines).encode()


def jsonl_event_lines(events: QuerySet[AuditEvent]) -> Iterator[bytes]:
    """Bare event lines, every stored field (for a release's timeline in its evidence pack)."""
    for event in event_dicts(events):
        yield _line(event).encode()
