"""Which HASH partition a key value goes to, computed as PostgreSQL 15 does, without a
server: ``compute_partition_hash_value`` (partbounds.c) hashes each key value with its
type's extended hash function and ``HASH_PARTITION_SEED``, combines the hashes with
``hash_combine64``, and the partition ``FOR VALUES WITH (MODULUS m, REMAINDER r)`` holds
the rows whose combined hash is ``r`` modulo ``m`` (NULL contributes nothing: a row whose
key is NULL hashes to 0).

The extended hash functions are Bob Jenkins' lookup3 as common/hashfn.c writes it
(``hash_uint32_extended``, ``hash_bytes_extended``, little-endian words):

- integers (``hashint2extended``, ``hashint4extended``, ``hashint8extended``): an int8 is
  folded into 32 bits so that equal values of the three types hash alike (a bigint
  constant compared with an integer key uses ``hashint8extended``: the same value);
- ``text`` and ``varchar`` in a deterministic collation (``hashtextextended``): the
  UTF-8 bytes; a nondeterministic collation hashes a sort key instead: not done here;
- ``uuid`` (``uuid_hash_extended``): its 16 bytes.

test_hash_partitions.py compares these with ``satisfies_hash_partition()`` on the server.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

HASH_PARTITION_SEED = 0x7A5B22367996DCFD
_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF
_INTEGERS = ("int2", "int4", "int8")
_BYTES = ("text", "varchar", "uuid")


def hashed(type_name: str) -> bool:
    """Whether values of a key column of this type are hashed here."""
    return type_name in _INTEGERS or type_name in _BYTES


def row_hash(types: Sequence[str], values: Sequence[Any]) -> int | None:
    """The combined hash of a key's values (``compute_partition_hash_value``), each of
    its column's type; a NULL (None) adds nothing, so an all-NULL key hashes to 0. None
    when a value is not hashed here (its type, or out of range)."""
    combined = 0
    for type_name, value in zip(types, values, strict=True):
        if value is None:
            continue
        single = _extended(type_name, value)
        if single is None:
            return None
        combined = _combine(combined, single)
    return combined


def holds(modulus: int, remainder: int, hash_value: int) -> bool:
    """Whether the partition ``(MODULUS modulus, REMAINDER remainder)`` holds the rows of
    that hash (``satisfies_hash_partition``)."""
    return hash_value % modulus == remainder


def _extended(type_name: str, value: Any) -> int | None:
    if type_name in _INTEGERS and isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            return None
        low, high = value & _M32, (value >> 32) & _M32
        low ^= high if value >= 0 else ~high & _M32
        return hash_uint32_extended(low, HASH_PARTITION_SEED)
    if type_name in ("text", "varchar") and isinstance(value, str):
        return hash_bytes_extended(value.encode(), HASH_PARTITION_SEED)
    if type_name == "uuid" and isinstance(value, uuid.UUID):
        return hash_bytes_extended(value.bytes, HASH_PARTITION_SEED)
    return None


def _combine(a: int, b: int) -> int:
    """``hash_combine64``."""
    a ^= (b + 0x49A0F4DD15E5A8E3 + (a << 54) + (a >> 7)) & _M64
    return a & _M64


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M32


def _mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    a = (a - c) & _M32
    a ^= _rot(c, 4)
    c = (c + b) & _M32
    b = (b - a) & _M32
    b ^= _rot(a, 6)
    a = (a + c) & _M32
    c = (c - b) & _M32
    c ^= _rot(b, 8)
    b = (b + a) & _M32
    a = (a - c) & _M32
    a ^= _rot(c, 16)
    c = (c + b) & _M32
    b = (b - a) & _M32
    b ^= _rot(a, 19)
    a = (a + c) & _M32
    c = (c - b) & _M32
    c ^= _rot(b, 4)
    b = (b + a) & _M32
    return a, b, c


def _final(a: int, b: int, c: int) -> tuple[int, int, int]:
    c ^= b
    c = (c - _rot(b, 14)) & _M32
    a ^= c
    a = (a - _rot(c, 11)) & _M32
    b ^= a
    b = (b - _rot(a, 25)) & _M32
    c ^= b
    c = (c - _rot(b, 16)) & _M32
    a ^= c
    a = (a - _rot(c, 4)) & _M32
    b ^= a
    b = (b - _rot(a, 14)) & _M32
    c ^= b
    c = (c - _rot(b, 24)) & _M32
    return a, b, c


def _seeded(start: int, seed: int) -> tuple[int, int, int]:
    a = b = c = start & _M32
    if seed:
        a = (a + (seed >> 32)) & _M32
        b = (b + (seed & _M32)) & _M32
        a, b, c = _mix(a, b, c)
    return a, b, c


def hash_uint32_extended(k: int, seed: int) -> int:
    a, b, c = _seeded(0x9E3779B9 + 4 + 3923095, seed)
    a = (a + k) & _M32
    a, b, c = _final(a, b, c)
    return (b << 32) | c


def hash_bytes_extended(data: bytes, seed: int) -> int:
    a, b, c = _seeded(0x9E3779B9 + len(data) + 3923095, seed)
    rest = data
    while len(rest) >= 12:
        a = (a + int.from_bytes(rest[0:4], "little")) & _M32
        b = (b + int.from_bytes(rest[4:8], "little")) & _M32
        c = (c + int.from_bytes(rest[8:12], "little")) & _M32
        a, b, c = _mix(a, b, c)
        rest = rest[12:]
    # The last 11 bytes: the lowest byte of c is left for the length.
    a = (a + int.from_bytes(rest[0:4], "little")) & _M32
    b = (b + int.from_bytes(rest[4:8], "little")) & _M32
    c = (c + (int.from_bytes(rest[8:11], "little") << 8)) & _M32
    a, b, c = _final(a, b, c)
    return (b << 32) | c
