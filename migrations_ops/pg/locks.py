"""PostgreSQL's table-level lock modes: their names, their order, and what each one blocks.

Taken from the PostgreSQL documentation, "Explicit Locking", table 13.2 (conflicting
lock modes), which has not changed since PostgreSQL 9.x. The numbers are the server's own
(``lockdefs.h``): a higher number is a stronger mode, and "the strongest lock a statement
takes" compares them.
"""

from __future__ import annotations

from enum import IntEnum


class LockMode(IntEnum):
    ACCESS_SHARE = 1
    ROW_SHARE = 2
    ROW_EXCLUSIVE = 3
    SHARE_UPDATE_EXCLUSIVE = 4
    SHARE = 5
    SHARE_ROW_EXCLUSIVE = 6
    EXCLUSIVE = 7
    ACCESS_EXCLUSIVE = 8

    @property
    def label(self) -> str:
        """PostgreSQL's name in capitals: ``ACCESS EXCLUSIVE``."""
        return self.name.replace("_", " ")

    @property
    def pg_locks_name(self) -> str:
        """The ``pg_locks.mode`` spelling: ``AccessExclusiveLock``."""
        return "".join(part.capitalize() for part in self.name.split("_")) + "Lock"

    def conflicts_with(self, other: LockMode) -> bool:
        return other in _CONFLICTS[self]

    @property
    def blocks(self) -> list[str]:
        """What other sessions cannot do on the table while this mode is held, in words."""
        return [what for what, mode in _ACTIVITIES if self.conflicts_with(mode)]

    @property
    def blocks_reads(self) -> bool:
        return self.conflicts_with(LockMode.ACCESS_SHARE)

    @property
    def blocks_writes(self) -> bool:
        return self.conflicts_with(LockMode.ROW_EXCLUSIVE)

    @classmethod
    def from_label(cls, label: str) -> LockMode:
        """``ACCESS EXCLUSIVE``, ``access exclusive`` or ``AccessExclusiveLock``."""
        text = label.strip()
        if text.endswith("Lock"):
            by_pg_name = {mode.pg_locks_name: mode for mode in cls}
            if text in by_pg_name:
                return by_pg_name[text]
        return cls[text.upper().replace(" ", "_")]


A = LockMode
_CONFLICTS: dict[LockMode, frozenset[LockMode]] = {
    A.ACCESS_SHARE: frozenset({A.ACCESS_EXCLUSIVE}),
    A.ROW_SHARE: frozenset({A.EXCLUSIVE, A.ACCESS_EXCLUSIVE}),
    A.ROW_EXCLUSIVE: frozenset({A.SHARE, A.SHARE_ROW_EXCLUSIVE, A.EXCLUSIVE, A.ACCESS_EXCLUSIVE}),
    A.SHARE_UPDATE_EXCLUSIVE: frozenset(
        {A.SHARE_UPDATE_EXCLUSIVE, A.SHARE, A.SHARE_ROW_EXCLUSIVE, A.EXCLUSIVE, A.ACCESS_EXCLUSIVE}
    ),
    A.SHARE: frozenset(
        {
            A.ROW_EXCLUSIVE,
            A.SHARE_UPDATE_EXCLUSIVE,
            A.SHARE_ROW_EXCLUSIVE,
            A.EXCLUSIVE,
            A.ACCESS_EXCLUSIVE,
        }
    ),
    A.SHARE_ROW_EXCLUSIVE: frozenset(
        {
            A.ROW_EXCLUSIVE,
            A.SHARE_UPDATE_EXCLUSIVE,
            A.SHARE,
            A.SHARE_ROW_EXCLUSIVE,
            A.EXCLUSIVE,
            A.ACCESS_EXCLUSIVE,
        }
    ),
    A.EXCLUSIVE: frozenset(set(LockMode) - {A.ACCESS_SHARE}),
    A.ACCESS_EXCLUSIVE: frozenset(LockMode),
}
assert all(  # the table is symmetric, as the documentation's is
    (b in _CONFLICTS[a]) == (a in _CONFLICTS[b]) for a in LockMode for b in LockMode
)

# What sessions do to a table, and the lock mode each takes.
_ACTIVITIES: list[tuple[str, LockMode]] = [
    ("reads (SELECT)", A.ACCESS_SHARE),
    ("SELECT ... FOR UPDATE/SHARE", A.ROW_SHARE),
    ("writes (INSERT, UPDATE, DELETE)", A.ROW_EXCLUSIVE),
    ("VACUUM, ANALYZE and CREATE INDEX CONCURRENTLY", A.SHARE_UPDATE_EXCLUSIVE),
    ("CREATE INDEX", A.SHARE),
    ("other schema changes", A.ACCESS_EXCLUSIVE),
]


def strongest(modes: list[LockMode | None] | tuple[LockMode | None, ...]) -> LockMode | None:
    present = [m for m in modes if m is not None]
    return max(present) if present else None


def label(mode: LockMode | None) -> str | None:
    return mode.label if mode is not None else None
