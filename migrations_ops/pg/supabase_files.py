"""The Supabase CLI's rules for local migration files and the remote history table.

Pure functions other parts of the portal share (the ``order`` and ``pending`` runners,
release ingestion, the apply job). Each rule below was read in the CLI's Go source
(github.com/supabase/cli, the v2 ``pkg/migration`` code; "file @ commit" as read, the
commits were not mapped to release tags):

- ``pkg/migration/file.go`` @078ef54c: ``migrateFilePattern = ^([0-9]+)_(.*)\\.sql$``;
  group 1 is the version, group 2 the name (stored in the history row's ``name``).
- ``pkg/migration/list.go`` @e862178a, ``ListLocalMigrations``: ``fs.ReadDir`` (entries
  sorted by file name, byte-wise), then per entry: the *first* entry (index 0 of the whole
  listing, hidden files and folders included) is skipped when ``([0-9]{14})_init\\.sql``
  matches anywhere in its name with a timestamp below ``20211209000000`` ("Skipping
  migration X... (replace "init" with a different file name to apply this migration)");
  any entry not matching the file pattern is skipped ("Skipping migration X... (file name
  must match pattern "<timestamp>_name.sql")"). A missing folder means no migrations.
- ``pkg/migration/list.go``, ``ListRemoteMigrations``: ``SELECT version FROM
  supabase_migrations.schema_migrations ORDER BY version``; SQLSTATE 42P01 (undefined
  table) means "the remote project has no migrations", not an error.
- ``pkg/migration/apply.go`` @f4b383fd, ``FindPendingMigrations``: a merge walk over the
  remote versions and the local files comparing versions **as strings** (Go ``<`` on
  ``string``): equal → applied; remote < local → remote version missing locally
  (``ErrMissingLocal``, the CLI stops and suggests ``supabase migration repair --status
  reverted``); remote > local → local file older than the remote history
  (``ErrMissingRemote``, refused unless ``--include-all``, see
  ``internal/migration/up/up.go`` @01fae66e ``GetPendingMigrations``). Otherwise the
  pending files are ``local[len(remote):]``.
- ``pkg/migration/history.go`` @2aef3bf3: the table the CLI creates: ``version text NOT
  NULL PRIMARY KEY``, then ``ADD COLUMN IF NOT EXISTS statements text[]`` and ``name
  text``; it reads ``version, coalesce(name, ''), statements``. The dashboard (Supabase
  Studio, supabase/supabase ``apps/studio/data/sql/utils/migrations.ts`` @0629559c) adds
  ``created_by text`` and ``idempotency_key text unique`` and records a whole query as one
  statement under ``to_char(current_timestamp, 'YYYYMMDDHHMISS')`` (a 12-hour clock);
  tables made by early CLI versions have only ``version``.
- ``internal/utils/misc.go`` @00a64348: ``supabase migration new`` names files with
  ``time.Now().UTC().Format("20060102150405")``: 14-digit UTC ``YYYYMMDDHHMMSS``. The CLI
  never checks this: any run of digits is a version.

Only ``supabase migration list`` (``internal/migration/list/list.go`` @01fae66e) compares
versions as integers, and only to draw its table. Comparing as numbers elsewhere would
call ``202402010000_x.sql`` (12 digits) older than an applied ``20240101000000`` although
the CLI, comparing strings, applies it as an ordinary pending file.

Not followed: some newer CLI revisions (``pkg/migration/apply.go`` @034ff093 calls
``ParseVersion``) also read folder migrations (``<version>_<name>/migration.sql``); the
portal reports folders as skipped.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

MIGRATE_FILE_PATTERN = re.compile(r"^([0-9]+)_(.*)\.sql\Z")  # Go's `$` is Python's `\Z`
INIT_SCHEMA_PATTERN = re.compile(r"([0-9]{14})_init\.sql")  # unanchored, as in the CLI
INIT_SCHEMA_CUTOFF = 20211209000000
HISTORY_TABLE = "supabase_migrations.schema_migrations"
CONVENTIONAL_LENGTH = 14  # YYYYMMDDHHMMSS, UTC

SKIP_INIT = "init_baseline"
SKIP_PATTERN = "name_pattern"
SKIP_FOLDER = "folder"


class MigrationsFolderMissing(Exception):
    """The migrations folder does not exist (the CLI would silently see no migrations)."""


@dataclass(frozen=True)
class LocalMigration:
    filename: str
    version: str
    name: str
    path: Path

    def as_dict(self) -> dict[str, str]:
        return {"filename": self.filename, "version": self.version, "name": self.name}


@dataclass(frozen=True)
class SkippedFile:
    filename: str
    code: str  # SKIP_INIT, SKIP_PATTERN or SKIP_FOLDER
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"filename": self.filename, "code": self.code, "reason": self.reason}


@dataclass(frozen=True)
class RemoteMigration:
    """One row of ``supabase_migrations.schema_migrations``.

    ``statements`` is None when the table has no such column or the row recorded none
    (``migration repair`` by older CLIs, rows inserted by hand).
    """

    version: str
    name: str = ""
    statements: tuple[str, ...] | None = None
    created_by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "name": self.name, "created_by": self.created_by}


@dataclass(frozen=True)
class VersionFinding:
    """Something about a file's version worth a person's attention."""

    code: str  # duplicate_version, not_14_digits, all_zero, impossible_date, future_timestamp,
    # not_chronological, filename_order_differs
    filenames: tuple[str, ...]
    version: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "filenames": list(self.filenames),
            "version": self.version,
            "message": self.message,
        }


def parse_filename(filename: str) -> tuple[str, str] | None:
    """``(version, name)`` for a file the CLI takes as a migration, else None."""
    match = MIGRATE_FILE_PATTERN.match(filename)
    if not match:
        return None
    return match.group(1), match.group(2)


def is_skipped_init_baseline(filename: str) -> bool:
    """The CLI's ``shouldSkip``: a pre-2021-12-09 ``<14 digits>_init.sql`` (first entry only)."""
    match = INIT_SCHEMA_PATTERN.search(filename)
    return match is not None and int(match.group(1)) < INIT_SCHEMA_CUTOFF


def list_local_migrations(migrations_dir: Path) -> tuple[list[LocalMigration], list[SkippedFile]]:
    """The files the CLI would apply, in the CLI's order, and every entry it skips, with why.

    Raises MigrationsFolderMissing when the folder does not exist (the CLI would quietly
    see no migrations; for a release that is almost always a wrong path).
    """
    if not migrations_dir.is_dir():
        raise MigrationsFolderMissing(f"no migrations folder at {migrations_dir}")
    # fs.ReadDir sorts by name byte-wise; Python's str order (code points) is the same order.
    entries = sorted(p.name for p in migrations_dir.iterdir())
    files: list[LocalMigration] = []
    skipped: list[SkippedFile] = []
    for index, filename in enumerate(entries):
        path = migrations_dir / filename
        if index == 0 and is_skipped_init_baseline(filename):
            skipped.append(
                SkippedFile(
                    filename,
                    SKIP_INIT,
                    "the CLI skips a first file named <timestamp>_init.sql dated before "
                    "2021-12-09 (old CLI baseline); rename it (replace 'init') if it must run",
                )
            )
            continue
        parsed = parse_filename(filename)
        if parsed is None:
            skipped.append(
                SkippedFile(
                    filename,
                    SKIP_PATTERN,
                    "the CLI skips it: the name must match <timestamp>_name.sql",
                )
            )
            continue
        if path.is_dir():
            skipped.append(
                SkippedFile(
                    filename, SKIP_FOLDER, "a folder, not a file: the portal reads only files"
                )
            )
            continue
        files.append(LocalMigration(filename, parsed[0], parsed[1], path))
    return files, skipped


def read_timestamp(version: str) -> datetime | None:
    """The UTC date-time a version stands for (14, 12 or 8 digits), or None if it is none."""
    if len(version) not in (8, 12, 14) or not version.isdigit():
        return None
    digits = version.ljust(14, "0")
    mo, d, h, mi, s = (int(digits[a : a + 2]) for a in (4, 6, 8, 10, 12))
    try:
        return datetime(int(digits[:4]), mo, d, h, mi, s, tzinfo=UTC)
    except ValueError:
        return None


def check_versions(
    files: list[LocalMigration], *, now: datetime | None = None
) -> list[VersionFinding]:
    """Flag versions that break the 14-digit UTC ``YYYYMMDDHHMMSS`` convention, and duplicates.

    The CLI tolerates everything here except duplicates (the second history insert fails
    on the primary key). Files are expected in the CLI's order (``list_local_migrations``).
    """
    now = now or datetime.now(UTC)
    findings: list[VersionFinding] = []
    by_version: dict[str, list[str]] = defaultdict(list)
    for f in files:
        by_version[f.version].append(f.filename)
    for version, names in by_version.items():
        if len(names) > 1:
            findings.append(
                VersionFinding(
                    "duplicate_version",
                    tuple(names),
                    version,
                    f"version {version} is used by {len(names)} files ({', '.join(names)}): the "
                    "history table keeps one row per version, so the CLI fails on the second; "
                    "give each file its own timestamp (supabase migration new)",
                )
            )
    previous: tuple[datetime, LocalMigration] | None = None
    for f in files:
        v, where = f.version, f.filename
        if set(v) == {"0"}:
            findings.append(
                _finding("all_zero", f, f"{where}: version {v} is all zeros, not a timestamp")
            )
            continue
        if len(v) != CONVENTIONAL_LENGTH:
            findings.append(
                _finding(
                    "not_14_digits",
                    f,
                    f"{where}: version {v} has {len(v)} digits, not the 14 of a UTC "
                    "YYYYMMDDHHMMSS timestamp; the CLI still applies it, ordering versions "
                    "as text",
                )
            )
        stamp = read_timestamp(v)
        if stamp is None and len(v) in (8, 12, 14):
            findings.append(
                _finding(
                    "impossible_date",
                    f,
                    f"{where}: version {v} is not a real date-time (month, day or time out of "
                    "range); rename it to the UTC time it was written",
                )
            )
        if stamp is not None and stamp > now:
            findings.append(
                _finding(
                    "future_timestamp",
                    f,
                    f"{where}: version {v} is in the future: local time ahead of UTC, or a "
                    "typo; every later migration will sort before it",
                )
            )
        if stamp is not None:
            if previous is not None and stamp < previous[0]:
                findings.append(
                    _finding(
                        "not_chronological",
                        f,
                        f"{where} runs after {previous[1].filename} but its timestamp is "
                        "earlier (the CLI orders by name, as text)",
                    )
                )
            previous = (stamp, f)
    findings.extend(_filename_order_findings(files))
    return findings


def _finding(code: str, f: LocalMigration, message: str) -> VersionFinding:
    return VersionFinding(code, (f.filename,), f.version, message)


def _filename_order_findings(files: list[LocalMigration]) -> list[VersionFinding]:
    # The CLI applies files in name order but matches them against the history in version
    # order; with versions of mixed lengths the two orders can differ (2021_b vs 20210_a).
    findings = []
    for before, after in itertools.pairwise(files):
        if after.version < before.version:
            findings.append(
                VersionFinding(
                    "filename_order_differs",
                    (before.filename, after.filename),
                    after.version,
                    f"{before.filename} sorts before {after.filename} by name but after it by "
                    "version: the CLI applies by name and compares versions as text; use "
                    "versions of equal length",
                )
            )
    return findings


def read_remote_history(conn: psycopg.Connection[Any]) -> list[RemoteMigration]:
    """The target's migration history, sorted by version as text (the CLI's order).

    No ``supabase_migrations.schema_migrations`` table (or schema) means nothing was applied
    yet: an empty list. Tables from old CLIs without ``name`` / ``statements`` are read too.
    Database errors (e.g. permission denied) propagate as psycopg errors.
    """
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [HISTORY_TABLE]).fetchone()
    if not exists or not exists[0]:
        return []
    columns = {
        row[0]
        for row in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass "
            "AND attnum > 0 AND NOT attisdropped",
            [HISTORY_TABLE],
        ).fetchall()
    }
    selected = [sql.SQL("version::text")]
    for column, expression in (
        ("name", "coalesce(name, '')"),
        ("statements", "statements"),
        ("created_by", "created_by::text"),
    ):
        selected.append(sql.SQL(expression if column in columns else "NULL"))
    query = sql.SQL("SELECT {} FROM supabase_migrations.schema_migrations").format(
        sql.SQL(", ").join(selected)
    )
    history = [
        RemoteMigration(
            version=row[0],
            name=row[1] or "",
            statements=tuple(row[2]) if row[2] is not None else None,
            created_by=row[3],
        )
        for row in conn.execute(query).fetchall()
    ]
    return sorted(history, key=lambda r: r.version)


@dataclass
class HistoryComparison:
    """Local files against the target's history, as ``supabase migration up`` sees them."""

    applied: list[tuple[LocalMigration, RemoteMigration]] = field(default_factory=list)
    # Newer than everything applied: `migration up` / `db push` apply these as they are.
    pending: list[LocalMigration] = field(default_factory=list)
    # Not applied, but older than a version in the history: needs --include-all.
    pending_older_than_newest_applied: list[LocalMigration] = field(default_factory=list)
    # In the history, no local file: drift; the CLI refuses to run until it is repaired.
    remote_only: list[RemoteMigration] = field(default_factory=list)

    @property
    def newest_applied(self) -> str | None:
        return self.applied[-1][1].version if self.applied else None

    @property
    def needs_include_all(self) -> bool:
        return bool(self.pending_older_than_newest_applied)

    def cli_refusal(self, *, include_all: bool = False) -> str | None:
        """The error ``supabase migration up`` would stop with, or None if it would run."""
        if self.remote_only:
            versions = " ".join(r.version for r in self.remote_only)
            return (
                "Remote migration versions not found in local migrations directory: "
                f"{versions} (bring the files back, or supabase migration repair "
                f"--status reverted {versions})"
            )
        if self.needs_include_all and not include_all:
            return (
                "Found local migration files to be inserted before the last migration on "
                "remote database (rerun with --include-all to apply them)"
            )
        return None

    def cli_would_apply(self, *, include_all: bool = False) -> list[LocalMigration]:
        """Files the CLI would apply, in its order; empty when it would refuse."""
        if self.cli_refusal(include_all=include_all):
            return []
        if include_all:
            return self.pending_older_than_newest_applied + self.pending
        return list(self.pending)


def compare(local: list[LocalMigration], remote: list[RemoteMigration]) -> HistoryComparison:
    """Port of the CLI's ``FindPendingMigrations``: versions compared as strings.

    ``local`` in the CLI's order (``list_local_migrations``), ``remote`` sorted by version
    (``read_remote_history``).
    """
    result = HistoryComparison()
    i = j = 0
    while i < len(remote) and j < len(local):
        theirs, ours = remote[i], local[j]
        if theirs.version == ours.version:
            result.applied.append((ours, theirs))
            i += 1
            j += 1
        elif theirs.version < ours.version:
            result.remote_only.append(theirs)
            i += 1
        else:
            result.pending_older_than_newest_applied.append(ours)
            j += 1
    if j == len(local):
        result.remote_only.extend(remote[i:])
    result.pending = list(local[j:])
    return result
