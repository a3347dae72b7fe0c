#!/usr/bin/env python3
"""Check a Release Portal change-log export offline, trusting nothing but a public key.

    python3 verify_changelog.py EXPORT --public-key KEY.pem [--checkpoint OLD.json]

EXPORT is a JSON Lines or CSV export (``release-portal-audit/2``, from the audit page or
``manage.py audit_export``), or a release's evidence pack (.zip). The script needs Python
3.9 or newer and the ``cryptography`` package, nothing else: it does not import the
portal, and it never talks to it.

It exits 0 and prints the head when the export is intact, and 1 naming the first bad
event when a byte was changed, an event is missing, inserted, duplicated or out of order,
the file was cut short, or a signature does not verify with the key (or with a key the
key's rotations lead to). With ``--checkpoint OLD.json`` (a checkpoint received earlier,
for instance by a webhook) it also proves that the log only grew since then: the export
must hold that checkpoint's event with the same public hash. Exit 2: wrong usage or an
unreadable file.

What it checks, line by line:

- each line is exactly as the portal writes it (compact JSON, one object a line; for
  CSV, each row as Python's csv module writes it), so no byte can change unnoticed;
- the header is signed; its ``anchor`` is where the chain picks up;
- each event's canonical form (the event without ``type``, ``digest``, ``public_hash``
  and ``hash``, as sorted compact JSON, UTF-8) hashes to its ``digest``, and its
  ``prev_hash`` is the previous event's ``hash``; a placeholder (an event the export's
  filter left out) gives its ``digest``;
- ``public_hash`` = SHA-256(previous public hash ‖ digest), as 32-byte values, from the
  anchor to the end, and seq numbers follow each other without a gap;
- the last line is a checkpoint, signed by a trusted key valid at its seq, naming exactly
  the last event's seq and hashes, and the head the signed header names (so an older
  checkpoint cannot end a newer export cut short).
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import json
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
except ImportError:  # pragma: no cover - told to the user
    sys.stderr.write(
        "verify_changelog.py needs the cryptography package: pip install cryptography\n"
    )
    sys.exit(2)

FORMAT = "release-portal-audit/2"
HASH_KEYS = ("type", "digest", "public_hash", "hash")
SIGNATURE_FIELDS = ("signature", "new_key_signature")
CSV_COLUMNS = [
    "record", "seq", "at", "actor_kind", "actor_id", "actor_name", "action", "object_type",
    "object_id", "object_repr", "project_id", "release_id", "data", "prev_hash",
    "release_repr", "form", "digest", "public_hash", "hash",
]  # fmt: skip
INT_COLUMNS = ("seq", "actor_id", "project_id", "release_id", "form")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")
RESAVED = "the file was saved again by an editor or a spreadsheet; check it as downloaded"
ZERO_HASH = "0" * 64


class Failed(Exception):
    """The export does not verify; the message says where and why."""


@contextmanager
def shape_of(what: str) -> Iterator[None]:
    """A record read before its signature is checked may be anything: say so, no traceback."""
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError):
        raise Failed(f"{what} does not have the shape the portal writes: it was changed") from None


# --- keys and signatures ------------------------------------------------------------------


def key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_public_key(pem: str) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def signed_bytes(doc: dict[str, Any]) -> bytes:
    body = {k: v for k, v in doc.items() if k not in SIGNATURE_FIELDS}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signature_ok(doc: dict[str, Any], key: Ed25519PublicKey, field: str = "signature") -> bool:
    try:
        key.verify(base64.b64decode(doc.get(field) or "", validate=True), signed_bytes(doc))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


class Trust:
    """The keys we trust, each for a range of seq numbers.

    It starts with the key given on the command line, and follows key rotations: a
    rotation statement signed by a trusted old key and countersigned by the new key makes
    the new key trusted from the rotation on (and the reverse: a trusted new key vouches
    for the old key up to the rotation). A key rotated to two keys is refused: only its
    thief would sign a second rotation.
    """

    def __init__(self, key: Ed25519PublicKey) -> None:
        self.keys: dict[str, Ed25519PublicKey] = {key_id(key): key}
        self.ranges: dict[str, tuple[int, int | None]] = {key_id(key): (0, None)}
        self.given = key_id(key)
        self.successor: dict[str, str] = {}  # old key -> the key it rotated to

    def follow(self, rotations: list[dict[str, Any]]) -> None:
        changed = True
        while changed:
            changed = False
            for statement in rotations:
                old_id, new_id = str(statement.get("old_key_id")), str(statement.get("new_key_id"))
                try:
                    new_key = load_public_key(statement.get("new_public_key", ""))
                except ValueError:
                    continue
                if key_id(new_key) != new_id or not signature_ok(
                    statement, new_key, "new_key_signature"
                ):
                    continue
                seq = int(statement["seq"])
                vouched = old_id in self.keys and signature_ok(statement, self.keys[old_id])
                if vouched and self.successor.setdefault(old_id, new_id) != new_id:
                    raise Failed(
                        f"key {old_id} was rotated twice, to {self.successor[old_id]} and to "
                        f"{new_id}: one rotation is forged (the key may have leaked); ask the "
                        "portal's operators for its current key"
                    )
                if vouched and new_id not in self.keys:
                    self.keys[new_id] = new_key
                    self.ranges[new_id] = (seq, None)
                    self._limit(old_id, seq)
                    changed = True
                elif new_id in self.keys and old_id in self.keys:
                    self._limit(old_id, seq)

    def add_old(self, rotations: list[dict[str, Any]], public_keys: dict[str, str]) -> None:
        """Keys before a trusted key: the trusted (new) key countersigned their rotation;
        back through every rotation (C vouches for B, then B for A)."""
        changed = True
        while changed:
            changed = False
            for statement in rotations:
                old_id, new_id = statement.get("old_key_id"), statement.get("new_key_id")
                if new_id in self.keys and old_id not in self.keys and old_id in public_keys:
                    old_key = load_public_key(public_keys[old_id])
                    if (
                        key_id(old_key) == old_id
                        and signature_ok(statement, old_key)
                        and signature_ok(statement, self.keys[new_id], "new_key_signature")
                    ):
                        self.keys[old_id] = old_key
                        self.ranges[old_id] = (0, int(statement["seq"]))
                        changed = True

    def _limit(self, old_id: str, seq: int) -> None:
        start, _ = self.ranges[old_id]
        self.ranges[old_id] = (start, seq)

    def check(self, doc: dict[str, Any], what: str, seq: int | None = None) -> str:
        kid = doc.get("key_id")
        signed_by = f"{what} is signed by key {kid}"
        if kid not in self.keys:
            raise Failed(
                f"{signed_by}, which the public key given ({self.given}) does not vouch for"
            )
        if not signature_ok(doc, self.keys[kid]):
            why = "changed, or signed with another key"
            raise Failed(f"{what}: its signature does not verify with key {kid} ({why})")
        start, end = self.ranges[kid]
        if seq is not None and (seq < start or (end is not None and seq > end)):
            valid = f"valid from #{start} to #{end}"
            raise Failed(f"{signed_by}, which was not valid at event #{seq} ({valid})")
        return str(kid)


# --- reading exports, byte for byte ---------------------------------------------------------


def compact(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def event_line(canonical: str, record: dict[str, Any]) -> str:
    """An event's line as the portal writes it: its canonical form, framed."""
    return (
        f'{{"type":"event",{canonical[1:-1]},"digest":"{record.get("digest")}",'
        f'"public_hash":"{record.get("public_hash")}","hash":"{record.get("hash")}"}}\n'
    )


def jsonl_records(stream: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each line's object, with where it is ("line 5"); an event's line is checked byte for
    byte once its canonical form is known (``record["_line"]``), any other line here."""
    for number, raw in enumerate(stream, start=1):
        where = f"line {number}"
        if not raw.endswith(b"\n"):
            raise Failed(
                f"{where} is cut off (no end of line): the file was cut short, or something "
                "was appended"
            )
        if raw.endswith(b"\r\n"):
            raise Failed(f"{where} ends in CR LF, not in the LF the portal writes: {RESAVED}")
        if not raw.strip():
            raise Failed(f"{where} is empty: the file was changed")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise Failed(
                f"{where} is not UTF-8 text (byte {e.start + 1}): the file was changed"
            ) from None
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise Failed(
                f"{where} is not valid JSON from character {e.pos + 1} on: the file was changed"
            ) from None
        if not isinstance(obj, dict):
            raise Failed(f"{where} is not a JSON object: the file was changed")
        if obj.get("type") == "event":
            obj["_line"] = text
        elif compact(obj) + "\n" != text:
            raise Failed(f"{where} is not written as the portal writes it: a byte was changed")
        yield where, obj


def _uncell(cell: str) -> str:
    return cell[1:] if cell.startswith("'") else cell


def _csv_value(name: str, cell: str) -> Any:
    cell = _uncell(cell)
    if name in INT_COLUMNS:
        return int(cell) if cell != "" else None
    if name == "data":
        return json.loads(cell) if cell != "" else None
    return cell


class _Recorder:
    """Hands lines to csv.reader and keeps the text of the record it is reading."""

    def __init__(self, stream: io.TextIOBase) -> None:
        self.stream = stream
        self.text: list[str] = []

    def __iter__(self) -> _Recorder:
        return self

    def __next__(self) -> str:
        try:
            line = self.stream.readline()
        except UnicodeDecodeError:
            raise Failed(
                "the file is not UTF-8 text: it was changed, or is not an export"
            ) from None
        if not line:
            raise StopIteration
        self.text.append(line)
        return line


def csv_records(stream: io.TextIOBase) -> Iterator[tuple[str, dict[str, Any]]]:
    recorder = _Recorder(stream)
    reader = csv.reader(recorder)
    out = io.StringIO()
    writer = csv.writer(out)
    for number, row in enumerate(reader, start=1):
        raw = "".join(recorder.text)
        recorder.text.clear()
        out.seek(0)
        out.truncate()
        writer.writerow(row)
        if number == 1 and row != CSV_COLUMNS:
            page = " (a web page: sign in, then download the export)" if "<" in raw else ""
            raise Failed(
                "this is not a change-log export (JSON Lines, CSV or an evidence pack): it "
                f"starts with {raw.strip()[:40]!r}{page}"
            )
        if out.getvalue() != raw:
            if raw.endswith("\n") and not raw.endswith("\r\n"):
                raise Failed(f"row {number} ends in a bare line feed, not in CR LF: {RESAVED}")
            if not raw.endswith("\r\n"):
                raise Failed(f"row {number} is cut off: the file was cut short")
            raise Failed(f"row {number} is not written as the portal writes it: a byte was changed")
        if number == 1:
            continue
        if len(row) != len(CSV_COLUMNS):
            raise Failed(f"row {number} has {len(row)} cells instead of {len(CSV_COLUMNS)}")
        cells = dict(zip(CSV_COLUMNS, row))
        kind = cells.pop("record")
        try:
            record = _csv_record(kind, cells)
        except ValueError as e:
            raise Failed(f"row {number} cannot be read ({e}): the file was changed") from None
        if _csv_row(kind, record) != row:  # the same values, other bytes: "01", "'1", spaces
            raise Failed(f"row {number} is not written as the portal writes it: a byte was changed")
        yield f"row {number}", record


def _csv_row(kind: str, record: dict[str, Any]) -> list[str]:
    """The row the portal writes for ``record`` (release_portal/audit/exports.py)."""
    cells = dict(record)
    if kind == "anchor":
        cells = {**(record.get("anchor") or {}), "data": record}
    elif kind == "checkpoint":
        cells = {k: record.get(k) for k in ("seq", "at", "public_hash", "hash")}
        cells["data"] = record
    row = [kind]
    for name in CSV_COLUMNS[1:]:
        value = cells.get(name)
        if isinstance(value, (dict, list)):
            value = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        text = "" if value is None else str(value)
        row.append("'" + text if text.startswith(FORMULA_STARTS) else text)
    return row


def _csv_record(kind: str, cells: dict[str, str]) -> dict[str, Any]:
    if kind == "event":
        obj: dict[str, Any] = {"type": "event"}
        obj.update({name: _csv_value(name, cell) for name, cell in cells.items()})
        if obj.get("form") is None:  # form 1 events have neither key
            obj.pop("form", None)
            obj.pop("release_repr", None)
        return obj
    if kind == "omitted":
        return {"type": "omitted", "seq": _csv_value("seq", cells["seq"]),
                **{k: _uncell(cells[k]) for k in ("digest", "public_hash", "hash")}}  # fmt: skip
    if kind in ("anchor", "checkpoint"):
        doc = json.loads(_uncell(cells["data"]))
        if not isinstance(doc, dict):
            raise ValueError(f"the {kind} row's data is not an object")
        return doc
    raise ValueError(f"unknown record {kind!r}")


# --- the check ------------------------------------------------------------------------------


class Result:
    def __init__(self) -> None:
        self.events = 0
        self.omitted = 0
        self.first_seq: int | None = None
        self.head: dict[str, Any] = {}
        self.checkpoint: dict[str, Any] = {}
        self.old: dict[str, Any] | None = None


def _hex32(value: Any, what: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except (TypeError, ValueError):
        raw = b""
    if len(raw) != 32 or raw.hex() != value:
        raise Failed(f"{what} is not 64 lowercase hexadecimal digits: the file was changed")
    return raw


def verify_records(records: Iterator[tuple[str, dict[str, Any]]], trust: Trust,
                   old: dict[str, Any] | None) -> Result:  # fmt: skip
    result = Result()
    try:
        _, header = next(records)
    except StopIteration:
        raise Failed("the file is empty") from None
    if header.get("type") != "export" or header.get("format") != FORMAT:
        raise Failed(f"this is not a {FORMAT} export (its first record is not the export header)")
    with shape_of("the export's header"):
        keys = header.get("keys") or []
        rotations = [k["rotation"] for k in keys if isinstance(k, dict) and k.get("rotation")]
        trust.follow(rotations)
        trust.add_old(
            rotations, {k["key_id"]: k["public_key"] for k in keys if isinstance(k, dict)}
        )
        trust.check(header, "the export's header", int(header["head"]["seq"]))
    anchor = header.get("anchor") or {}
    seq = int(anchor.get("seq", -1))
    public = _hex32(anchor.get("public_hash"), "the anchor's public hash")
    last_hash = anchor.get("hash")
    old_seq = int(old["seq"]) if old else None
    if old is not None and old_seq is not None and old_seq <= seq:
        if old_seq < seq:
            raise Failed(
                f"this export starts after event #{old_seq} (the old checkpoint's): export "
                "from an earlier date to prove the log only grew since then"
            )
        _match_old(old, seq, public.hex(), last_hash)
    checkpoint: dict[str, Any] | None = None
    for where, record in records:
        kind = record.get("type")
        if checkpoint is not None:
            raise Failed(f"{where} comes after the checkpoint: something was appended")
        if kind == "checkpoint":
            checkpoint = record
            continue
        if kind not in ("event", "omitted"):
            what = "an event, a placeholder or the checkpoint"
            raise Failed(f"{where} is not {what}: the file was changed")
        this = record.get("seq")
        if not isinstance(this, int) or this != seq + 1:
            if isinstance(this, int) and this > seq + 1:
                follows = f"event #{this} ({where}) follows event #{seq}"
                raise Failed(f"event #{seq + 1} is missing or out of place: {follows}")
            raise Failed(
                f"event #{this} ({where}) is out of order or inserted: it follows event #{seq}"
            )
        if kind == "event":
            line = record.pop("_line", None)
            fields = {k: v for k, v in record.items() if k not in HASH_KEYS}
            canonical = json.dumps(
                fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False
            )
            if line is not None and event_line(canonical, record) != line:
                raise Failed(f"{where} is not written as the portal writes it: a byte was changed")
            digest = hashlib.sha256(canonical.encode("utf-8")).digest()
            if digest != _hex32(record.get("digest"), f"event #{this}'s digest ({where})"):
                raise Failed(
                    f"event #{this} ({where}) was changed: its content does not match its digest"
                )
            if fields.get("prev_hash") != last_hash:
                raise Failed(
                    f"event #{this} ({where}) does not link to event #{seq}: inserted, removed "
                    "or reordered"
                )
            result.events += 1
        else:
            digest = _hex32(record.get("digest"), f"event #{this}'s digest ({where})")
            result.omitted += 1
        public = hashlib.sha256(public + digest).digest()
        if public != _hex32(record.get("public_hash"), f"event #{this}'s public hash ({where})"):
            raise Failed(
                f"event #{this} ({where}) does not follow the chain: changed, inserted, removed "
                "or reordered"
            )
        seq, last_hash = this, record.get("hash")
        if result.first_seq is None:
            result.first_seq = seq
        if old is not None and seq == old_seq:
            _match_old(old, seq, public.hex(), last_hash)
    if checkpoint is None:
        raise Failed(
            f"the export ends without its signed checkpoint: it was cut short after event #{seq}"
        )
    with shape_of("the checkpoint"):
        trust.check(checkpoint, "the checkpoint", int(checkpoint.get("seq", -1)))
    signed_head = header.get("head") or {}
    if signed_head != {k: checkpoint.get(k) for k in ("seq", "hash", "public_hash")}:
        cut = f"#{signed_head.get('seq')}, but its checkpoint signs #{checkpoint.get('seq')}"
        raise Failed(
            f"the export's signed header names the head {cut}: events after "
            f"#{checkpoint.get('seq')} were cut and an older checkpoint put in place"
        )
    if checkpoint.get("seq") != seq:
        raise Failed(
            f"the checkpoint signs the head at event #{checkpoint.get('seq')}, but the export "
            f"ends at event #{seq}: events at the end are missing"
        )
    if checkpoint.get("public_hash") != public.hex() or checkpoint.get("hash") != last_hash:
        raise Failed(
            f"the checkpoint's head hashes are not those of event #{seq}: the chain was changed"
        )
    if old is not None and old_seq is not None and old_seq > seq:
        raise Failed(
            f"the old checkpoint names event #{old_seq}, after this export's head #{seq}: "
            "events were removed since, or this export is older than the checkpoint"
        )
    result.head = {"seq": seq, "public_hash": public.hex(), "hash": last_hash}
    result.checkpoint = checkpoint
    result.old = old
    return result


def _match_old(old: dict[str, Any], seq: int, public_hash: str, hmac_hash: Any) -> None:
    if old.get("public_hash") != public_hash or old.get("hash") != hmac_hash:
        raise Failed(
            f"the log did not only grow: event #{seq} has other hashes than in the old "
            f"checkpoint of {when(old.get('at'))}: events up to #{seq} were changed, removed "
            "or reordered"
        )


def verify_export(data: Any, trust: Trust, old: dict[str, Any] | None) -> Result:
    """``data``: a binary stream with peek() (io.BufferedReader)."""
    start = data.peek(3)[:3]
    if start == b"\xef\xbb\xbf":
        raise Failed(
            f"the file starts with a byte order mark, which the portal never writes: {RESAVED}"
        )
    if start[:1] == b"{":
        return verify_records(jsonl_records(data), trust, old)
    text = io.TextIOWrapper(data, encoding="utf-8", newline="")
    return verify_records(csv_records(text), trust, old)


def verify_pack(path: str, trust: Trust, old: dict[str, Any] | None) -> tuple[Result, int]:
    """An evidence pack: its signed manifest, every file's sha256, then its audit.jsonl."""
    with zipfile.ZipFile(path) as pack:
        names = pack.namelist()
        if len(set(names)) != len(names):  # a zip tool may show one copy, the checker another
            twice = sorted({name for name in names if names.count(name) > 1})
            raise Failed(f"the pack holds {', '.join(twice)} twice: the pack was changed")
        if "contents.json" not in names:
            raise Failed("the pack has no contents.json")
        with shape_of("the pack's contents.json"):
            contents = json.loads(pack.read("contents.json"))
            files = {entry["name"]: (entry["size"], entry["sha256"]) for entry in contents["files"]}
        for name, expected in files.items():
            if name not in names:
                raise Failed(f"{name} is listed in contents.json but not in the pack")
            digest, size = hashlib.sha256(), 0
            with pack.open(name) as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
                    size += len(chunk)
            if (size, digest.hexdigest()) != expected:
                raise Failed(f"{name} was changed: its sha256 is not the one in contents.json")
        extra = sorted(set(names) - set(files) - {"contents.json"})
        if extra:
            raise Failed(f"the pack holds files its manifest does not list: {', '.join(extra)}")
        if "audit.jsonl" not in names:
            raise Failed("the pack has no audit.jsonl: it was removed")
        with pack.open("audit.jsonl") as handle:
            result = verify_export(io.BufferedReader(handle), trust, old)
        trust.check(contents, "the pack's contents.json", int(result.head["seq"]))
        if contents.get("checkpoint") != result.checkpoint:
            raise Failed("contents.json names another checkpoint than audit.jsonl ends with")
        return result, len(files)


# Why the portal signed a checkpoint, in words (release_portal.audit.models.Checkpoint.Reason).
REASONS = {
    "export": "for an export", "evidence_pack": "for an evidence pack",
    "schedule": "on schedule", "rotation": "at a key rotation", "manual": "on request",
}  # fmt: skip


def _counted(n: int, thing: str) -> str:
    return f"{n:,} {thing}" + ("" if n == 1 else "s")


def _linked(omitted: int) -> str:
    """What a filtered export's placeholders add to the OK line (nothing when none)."""
    if not omitted:
        return ""
    return f" and {_counted(omitted, 'placeholder')} (events the export left out) linked"


def when(at: Any) -> str:
    """A checkpoint's time as people read it ("2026-12-06 01:38:33 UTC"), not ISO 8601."""
    try:  # Python 3.9's fromisoformat takes no "Z"
        moment = datetime.fromisoformat(str(at).replace("Z", "+00:00"))
    except ValueError:
        return str(at)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _unreadable(error: Exception) -> str:
    """A file that cannot be read, in words: its name and why, not Python's repr of it."""
    if isinstance(error, OSError) and error.filename is not None:
        return f"cannot read {error.filename}: {(error.strerror or str(error)).lower()}"
    return str(error)


def _read_key(path: str) -> Ed25519PublicKey:
    with open(path, "rb") as f:
        raw = f.read()
    try:
        return load_public_key(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, TypeError):
        raise ValueError(
            f"{path} is not an Ed25519 public key in PEM form (it starts with "
            '"-----BEGIN PUBLIC KEY-----"): take it from https://<portal>/audit/public-key.pem '
            "or from whoever handed you the key"
        ) from None


def _read_checkpoint(path: str) -> dict[str, Any]:
    with open(path, "rb") as f:
        raw = f.read()
    try:
        old = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        old = None
    if not isinstance(old, dict) or old.get("type") != "checkpoint":
        raise ValueError(
            f"{path} is not a signed checkpoint (the JSON the audit page offers as "
            "Last checkpoint, or a webhook received)"
        )
    return old


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Check a Release Portal change-log export (or evidence pack) offline."
    )
    parser.add_argument("export", help="the .jsonl or .csv export, or an evidence pack .zip")
    parser.add_argument("--public-key", required=True, help="the portal's public key (PEM)")
    parser.add_argument(
        "--checkpoint", help="an older signed checkpoint (JSON): prove the log only grew since"
    )
    args = parser.parse_args(argv)
    try:
        trust = Trust(_read_key(args.public_key))
        old = _read_checkpoint(args.checkpoint) if args.checkpoint else None
    except (OSError, ValueError) as e:
        sys.stderr.write(f"verify_changelog.py: {_unreadable(e)}\n")
        return 2
    try:
        if zipfile.is_zipfile(args.export):
            result, files = verify_pack(args.export, trust, old)
            print(f"OK: evidence pack intact: {files} files match its signed manifest")
        else:
            with open(args.export, "rb") as data:
                result = verify_export(io.BufferedReader(data), trust, old)
        if old is not None:  # after the export: its keys may be needed for an old key
            trust.check(old, "the old checkpoint", int(old["seq"]))
    except OSError as e:
        sys.stderr.write(f"verify_changelog.py: {_unreadable(e)}\n")
        return 2
    except Failed as e:
        sys.stderr.write(f"FAILED: {e}\n")
        return 1
    head, checkpoint = result.head, result.checkpoint
    span = f"#{result.first_seq} to #{head['seq']}" if result.first_seq else f"up to #{head['seq']}"
    print(f"OK: {_counted(result.events, 'event')} verified{_linked(result.omitted)}, {span}")
    print(f"head: #{head['seq']} public_hash {head['public_hash']} hash {head['hash']}")
    reason = REASONS.get(str(checkpoint.get("reason")), checkpoint.get("reason"))
    print(f"signed by key {checkpoint['key_id']} at {when(checkpoint['at'])} ({reason})")
    if old is not None:
        print(f"the log only grew since the checkpoint of {when(old['at'])} (event #{old['seq']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
