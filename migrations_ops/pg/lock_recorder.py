"""The locks each migration statement really took on a scratch copy, and for how long.

``LockRecorder`` is an ``apply.StatementHook``: while ``apply_files`` runs the pending
files on a scratch copy, it reads ``pg_locks`` for the applying backend from a second
connection before and after every statement. A (relation, mode) pair that appears
while a statement runs was granted to that statement; it is held until the pair is gone
again (the transaction ended: the file's COMMIT, or a COMMIT inside the file). Only
relations that existed before the file count (tables, views, materialized views), as
in the risk report's ``lock`` field.

A statement that runs outside any transaction (``CREATE INDEX CONCURRENTLY`` in the
standalone mode) has released its locks when it ends: none are observed for it, and the
report keeps the predicted lock.

What it measures is the scratch copy: its rows (as many as were copied), its hardware,
no concurrent clients. Times say how long the lock is held with nobody waiting; on the
target, every client that needs the table waits at least that long.

The second connection only reads ``pg_locks`` and ``pg_class``; it takes no lock on a
user table and cannot change what the migration sees.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg

from migrations_ops.pg.locks import LockMode
from migrations_ops.pg.sqlsplit import cannot_run_in_transaction

if TYPE_CHECKING:
    from migrations_ops.pg.apply import MigrationFile
    from migrations_ops.pg.apply_report import FileResult
    from migrations_ops.pg.sqlsplit import Statement

_RELATIONS = """
SELECT c.oid, n.nspname || '.' || c.relname FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
"""
_LOCKS = (
    "SELECT relation, mode FROM pg_locks "
    "WHERE pid = %s AND locktype = 'relation' AND granted AND database = "
    "(SELECT oid FROM pg_database WHERE datname = current_database())"
)


@dataclass
class StatementObservation:
    file: str
    index: int  # 0-based in its file
    line: int
    seconds: float = 0.0
    rows: int | None = None
    # Relations that existed before the file -> the strongest mode granted during the statement.
    locks: dict[str, LockMode] = field(default_factory=dict)
    started: float = 0.0
    released: float | None = None  # when the transaction that holds them ended

    @property
    def strongest(self) -> LockMode | None:
        return max(self.locks.values()) if self.locks else None

    @property
    def held_seconds(self) -> float | None:
        """From the statement's start until its locks were released."""
        if not self.locks or self.released is None:
            return None
        return self.released - self.started

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "seconds": round(self.seconds, 4),
            "rows": self.rows,
            "locks": {name: mode.label for name, mode in sorted(self.locks.items())},
            "lock_held_seconds": (
                round(self.held_seconds, 4) if self.held_seconds is not None else None
            ),
        }


class LockRecorder:
    """Watches the backend ``pid`` applying migrations on the scratch database at ``url``."""

    def __init__(
        self,
        url: str,
        pid: int,
        *,
        on_first: Callable[[psycopg.Connection], None] | None = None,
    ) -> None:
        """``on_first`` is called with the recorder's connection before the first pending
        statement runs: the scratch copy as the release finds it."""
        self.pid = pid
        self.conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
        self.observations: list[StatementObservation] = []
        self._by_key: dict[tuple[str, int], StatementObservation] = {}
        self._on_first = on_first
        self._file: str | None = None
        self._names: dict[int, str] = {}  # relations that existed before the current file
        self._held: dict[tuple[int, str], StatementObservation] = {}
        self._current: StatementObservation | None = None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> LockRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def observation(self, file: str, index: int) -> StatementObservation | None:
        return self._by_key.get((file, index))

    # --- apply.StatementHook --------------------------------------------------------

    def before(self, migration: MigrationFile, statement: Statement) -> None:
        if self._on_first is not None:
            first, self._on_first = self._on_first, None
            first(self.conn)
        if migration.filename != self._file:
            self._file = migration.filename
            self._names = {oid: name for oid, name in self.conn.execute(_RELATIONS).fetchall()}
        if self._held and cannot_run_in_transaction(statement.text):
            # The standalone mode commits the file's statements so far before this one.
            self._sync(self._granted())
        current = StatementObservation(migration.filename, statement.index, statement.line)
        self.observations.append(current)
        self._by_key[(current.file, current.index)] = current
        self._current = current
        current.started = time.monotonic()

    def after(self, migration: MigrationFile, statement: Statement, rows: int | None) -> None:
        current = self._current
        if current is None:
            return
        current.seconds = time.monotonic() - current.started
        current.rows = rows
        granted = self._granted()
        for oid, mode_name in granted:
            key = (oid, mode_name)
            if key in self._held or oid not in self._names:
                continue
            self._held[key] = current
            mode = LockMode.from_label(mode_name)
            name = self._names[oid]
            if name not in current.locks or mode > current.locks[name]:
                current.locks[name] = mode
        self._sync(granted)
        self._current = None

    def file_done(self, migration: MigrationFile, result: FileResult) -> None:
        now = time.monotonic()
        # The file's transaction has ended (committed or rolled back): all is released.
        for observation in {id(o): o for o in self._held.values()}.values():
            if observation.released is None:
                observation.released = now
        self._held.clear()

    # --- internals --------------------------------------------------------------------

    def _granted(self) -> list[tuple[int, str]]:
        return [(int(oid), mode) for oid, mode in self.conn.execute(_LOCKS, [self.pid]).fetchall()]

    def _sync(self, granted_now: list[tuple[int, str]]) -> None:
        """Mark the locks that are gone as released now."""
        granted = set(granted_now)
        now = time.monotonic()
        for key in [k for k in self._held if k not in granted]:
            observation = self._held.pop(key)
            if observation.released is None and not any(
                held is observation for held in self._held.values()
            ):
                observation.released = now
