"""The hash chain: canonical form, HMAC and verification. No Django models here."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from release_portal.audit.models import GENESIS_HASH

# The fields that the hash covers, in the canonical form's order (keys are sorted anyway).
HASHED_FIELDS = (
    "seq",
    "at",
    "actor_kind",
    "actor_id",
    "actor_name",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "project_id",
    "release_id",
    "data",
    "prev_hash",
)


def to_json_value(data: Any) -> Any:
    """Turn dates, decimals and UUIDs into what JSONB hands back, so hashes survive storage."""
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def canonical_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_bytes(event: Mapping[str, Any]) -> bytes:
    body = {name: event[name] for name in HASHED_FIELDS}
    if isinstance(body["at"], datetime):
        body["at"] = canonical_time(body["at"])
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(key: bytes, event: Mapping[str, Any]) -> str:
    return hmac.new(key, canonical_bytes(event), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    problem: str = ""
    seq: int | None = None  # where the first broken link is

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "problem": self.problem,
            "seq": self.seq,
        }


def verify_events(
    key: bytes, events: Iterable[Mapping[str, Any]], *, start_seq: int = 1, prev: str = GENESIS_HASH
) -> VerifyResult:
    """Walk events in seq order; report the first changed, missing, inserted or moved one."""
    expected_seq = start_seq
    checked = 0
    last_seq, last_hash = start_seq - 1, prev
    for event in events:
        seq = event["seq"]
        if seq != expected_seq:
            kind = "missing" if seq > expected_seq else "duplicated or out of order"
            return VerifyResult(
                False, checked, last_seq, last_hash,
                f"event #{expected_seq} is {kind}: found #{seq} after #{last_seq}", expected_seq,
            )  # fmt: skip
        if event["prev_hash"] != last_hash:
            return VerifyResult(
                False, checked, last_seq, last_hash,
                f"event #{seq} does not link to event #{last_seq} (inserted, deleted or reordered)",
                seq,
            )  # fmt: skip
        if not hmac.compare_digest(event_hash(key, event), event["hash"]):
            return VerifyResult(
                False, checked, last_seq, last_hash,
                f"event #{seq} was changed after it was written (its hash does not match)", seq,
            )  # fmt: skip
        checked += 1
        last_seq, last_hash = seq, event["hash"]
        expected_seq += 1
    return VerifyResult(True, checked, last_seq, last_hash)


def iter_rows(cursor_rows: Iterable[tuple], columns: list[str]) -> Iterator[dict[str, Any]]:
    for row in cursor_rows:
        yield dict(zip(columns, row, strict=True))
