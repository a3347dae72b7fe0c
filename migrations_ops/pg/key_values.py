"""A partition key's values as PostgreSQL's plan-time pruning compares them, for
``partition_pruning``: a WHERE's constants and the partitions' bounds, read as values of
the key's type, or refused (None) when that cannot be done exactly from the text.

- integers, ``date``, ``timestamp`` and ``uuid`` (compared as its 16 bytes, as
  ``uuid_cmp`` does): ordered, so ``<``, ``>`` and RANGE bounds are compared too;
- ``timestamptz``: a constant that gives its zone (``'2024-01-01 00:00+00'``); one without
  is read in the TimeZone of the session that runs the statement, which the text does not
  tell: refused;
- an enum: equality only (its order is ``pg_enum.enumsortorder``, not its labels');
- ``text`` and ``varchar``: under the key's collation (``KeyCollation``). A clause prunes
  only when its collation is the key's (partprune.c, ``PartCollMatchesExprColl``): a
  constant given another ``COLLATE``, or a column whose own collation is not the key's,
  prunes nothing (``SKIP``). Equality is byte equality in a deterministic collation; the
  order is byte order in ``C``, ``POSIX`` and libc's ``C.UTF-8`` (code point order, which
  UTF-8 keeps) and is refused in any other collation, whose order belongs to the server's
  C library or ICU version.
"""

from __future__ import annotations

import datetime
import re
import uuid
from dataclasses import dataclass
from typing import Any

# A constant as written: ("int", "12") for an integer literal, ("string", "2024-01-01")
# for a quoted one (typed by the column it meets), (type name, text) for a cast one; a
# COLLATE on it adds "@collation" to its kind.
Constant = tuple[str, str]

# A clause that does not prune at all (another collation than the key's).
SKIP: Any = type("Skip", (), {"__repr__": lambda self: "SKIP"})()

TYPE_NAMES = {
    "int": "int4", "integer": "int4", "int4": "int4", "bigint": "int8", "int8": "int8",
    "smallint": "int2", "int2": "int2", "date": "date", "text": "text", "varchar": "varchar",
    "uuid": "uuid", "timestamp": "timestamp", "timestamptz": "timestamptz",
}  # fmt: skip
_INTEGERS = ("int2", "int4", "int8")
_TEXT = ("text", "varchar")
_ORDERED = (*_INTEGERS, "date", "timestamp", "timestamptz", "uuid")


@dataclass(frozen=True)
class KeyCollation:
    """The collation of a text key column."""

    name: str  # pg_collation.collname ("default": the database's)
    # "bytes": compared as UTF-8 bytes; "equality": deterministic, its order not known
    # here; "": neither (nondeterministic, or not known)
    order: str
    column_matches: bool = True  # the column's own collation is the key's


def collation_order(provider: str, locale: str, deterministic: bool = True) -> str:
    """``KeyCollation.order`` of a collation (``pg_collation.collprovider``, its locale)."""
    if not deterministic:
        return ""
    if provider == "c" and locale.lower() in ("c", "posix", "c.utf8", "c.utf-8"):
        return "bytes"
    return "equality"


def ordered(type_name: str, collation: KeyCollation | None) -> bool:
    """Whether values of the key are compared by order here (``<``, RANGE bounds)."""
    if type_name in _TEXT:
        return collation is not None and collation.order == "bytes"
    return type_name in _ORDERED


def value(
    type_name: str, constant: Constant, collation: KeyCollation | None, *, bound: bool = False
) -> Any:
    """The constant as a value of the key's type; None when it is not compared here;
    ``SKIP`` when its clause prunes nothing. ``bound``: a partition's bound (no collation
    of its own)."""
    kind, text = constant
    kind, _, collated = kind.partition("@")
    if kind not in ("int", "string", type_name) and not (type_name in _TEXT and kind in _TEXT):
        return None
    if type_name in _INTEGERS:
        if not re.fullmatch(r"-?\d+", text) or not -(2**63) <= int(text) < 2**63:
            return None  # beyond int8: a numeric, compared through a cast
        return int(text)
    if kind == "int":
        return None
    if type_name in _TEXT:
        if collation is None or collation.order == "":
            return None
        if not bound and (
            (collated and collated != collation.name)
            or (not collated and not collation.column_matches)
        ):
            return SKIP
        return text
    if type_name == "enum":
        return text
    if type_name == "uuid":
        try:
            return uuid.UUID(text.strip())
        except ValueError:
            return None
    if type_name in ("date", "timestamp", "timestamptz"):
        return _datetime(type_name, text.strip())
    return None


_DATETIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?))?"
    r"(Z|[+-]\d{2}(?::?\d{2})?)?"
)


def _datetime(type_name: str, text: str) -> Any:
    match = _DATETIME.fullmatch(text)
    if match is None:
        return None
    day, time, zone = match.groups()
    try:
        if type_name == "date":
            return datetime.date.fromisoformat(day) if not time and not zone else None
        if type_name == "timestamp":
            return None if zone else datetime.datetime.fromisoformat(f"{day}T{time or '00:00'}")
        if not zone:
            return None  # read in the session's TimeZone
        zone = "+00:00" if zone == "Z" else zone
        if len(zone) == 3:
            zone += ":00"
        elif ":" not in zone:
            zone = f"{zone[:3]}:{zone[3:]}"
        return datetime.datetime.fromisoformat(f"{day}T{time or '00:00'}{zone}")
    except ValueError:
        return None
