"""The hash chains: canonical form, digests, HMAC. No models here.

Every event is stored with its **canonical form**: compact JSON of its fields with sorted
keys (``json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``,
UTF-8), ``at`` written as ``2026-01-02T03:04:05.000006Z``. The fields are those of
``HASHED_FIELDS``, plus ``release_repr`` and ``"form": 2`` for events written since the
public chain exists (form 2; older events are form 1 and lack those two keys). A CHECK
constraint (``audit_canonical_matches_columns``, below) makes PostgreSQL refuse any row
whose columns say something else than its canonical form, so pages that read the columns
read what the hashes cover.

Three hashes per event:

- ``digest`` = SHA-256(canonical form);
- ``public_hash`` = SHA-256(previous event's public_hash ‖ digest), both as 32 raw bytes,
  the first event's previous being 32 zero bytes. Anyone can recompute this chain from an
  export (scripts/verify_changelog.py), and checkpoints signed with the portal's Ed25519
  key vouch for its head, so an outsider needs nothing but the public key;
- ``hash`` = HMAC-SHA256 keyed by AUDIT_HMAC_KEY (kept outside the database) over the
  public hash's 32 bytes (form 2), or over the canonical form (form 1). Someone with
  database access alone can rebuild the public chain but not these.

Storing the canonical form is what makes checking fast: nothing is serialised again, the
check hashes bytes it reads (see verify.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

FORM = 2  # the form new events are written in
ZERO = bytes(32)

# The fields every canonical form holds (form 2 adds release_repr and form).
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
FORM2_FIELDS = (*HASHED_FIELDS, "release_repr", "form")

CANONICAL_CHECK = "audit_canonical_matches_columns"
# The columns, as PostgreSQL sees them, must be the canonical form's values (numbers and
# objects compared as jsonb values). Copied verbatim into migration 0004; verify.py makes
# sure the table still holds exactly this constraint.
CANONICAL_CHECK_SQL = """(canonical::jsonb = (jsonb_build_object(
    'seq', seq,
    'at', to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'actor_kind', actor_kind, 'actor_id', actor_id, 'actor_name', actor_name,
    'action', action, 'object_type', object_type, 'object_id', object_id,
    'object_repr', object_repr, 'project_id', project_id, 'release_id', release_id,
    'data', data, 'prev_hash', prev_hash)
    || CASE WHEN form = 1 THEN '{}'::jsonb
            ELSE jsonb_build_object('release_repr', release_repr, 'form', form) END))"""


def to_json_value(data: Any) -> Any:
    """Turn dates, decimals and UUIDs into what JSONB hands back, so hashes survive storage."""
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def canonical_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_text(event: Mapping[str, Any], form: int = FORM) -> str:
    """The canonical form of ``event`` (a mapping holding at least the form's fields)."""
    names = (*HASHED_FIELDS, "release_repr") if form == 2 else HASHED_FIELDS
    body = {name: event[name] for name in names}
    if form == 2:
        body["form"] = 2
    if isinstance(body["at"], datetime):
        body["at"] = canonical_time(body["at"])
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_bytes(event: Mapping[str, Any]) -> bytes:
    """Form 1's canonical form (what the HMAC of events written before form 2 covers)."""
    return canonical_text(event, form=1).encode()


def event_hash(key: bytes, event: Mapping[str, Any]) -> str:
    """Form 1's HMAC (hex)."""
    return hmac.new(key, canonical_bytes(event), hashlib.sha256).hexdigest()


def public_link(prev_public: bytes, digest: bytes) -> bytes:
    return hashlib.sha256(prev_public + digest).digest()


@dataclass(frozen=True)
class Hashes:
    digest: str
    public_hash: str
    hash: str


def hashes_for(key: bytes, form: int, canonical: bytes, prev_public_hash: str) -> Hashes:
    """The three hashes of an event from its canonical form and the previous public hash."""
    digest = hashlib.sha256(canonical).digest()
    public = public_link(bytes.fromhex(prev_public_hash), digest)
    mac_input = public if form == 2 else canonical
    mac = hmac.new(key, mac_input, hashlib.sha256).hexdigest()
    return Hashes(digest.hex(), public.hex(), mac)


def form2_mac(key: bytes, public_hash: str) -> str:
    return hmac.new(key, bytes.fromhex(public_hash), hashlib.sha256).hexdigest()


# --- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    problem: str = ""
    seq: int | None = None  # where the first broken link is
    public_hash: str = ""  # the public chain's head

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "public_hash": self.public_hash,
            "problem": self.problem,
            "seq": self.seq,
        }


def iter_rows(cursor_rows: Iterable[tuple], columns: list[str]) -> Iterator[dict[str, Any]]:
    for row in cursor_rows:
        yield dict(zip(columns, row, strict=True))
