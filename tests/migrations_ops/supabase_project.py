"""Small Supabase projects for runner tests: a migrations folder and a target database.

The target is a throwaway database on the test PostgreSQL whose history table is created
and filled with the same statements the Supabase CLI runs (pkg/migration/history.go).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import psycopg

from migrations_ops.pg import pgtools
from migrations_ops.pg.scratch import scratch_database

# The CLI's CreateMigrationTable batch (pkg/migration/history.go).
CLI_HISTORY_DDL = [
    "CREATE SCHEMA IF NOT EXISTS supabase_migrations",
    "CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations "
    "(version text NOT NULL PRIMARY KEY)",
    "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS statements text[]",
    "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS name text",
]
CLI_INSERT = (
    "INSERT INTO supabase_migrations.schema_migrations(version, name, statements) "
    "VALUES(%s, %s, %s)"
)

HistoryRow = tuple[str, str, list[str] | None]


def supabase_folder(root: Path, files: dict[str, str]) -> Path:
    """``root/supabase`` with ``migrations/<name>`` holding each text; returns the supabase dir."""
    migrations = root / "supabase" / "migrations"
    migrations.mkdir(parents=True)
    for name, text in files.items():
        (migrations / name).write_text(text)
    return root / "supabase"


@contextlib.contextmanager
def target_database(
    history: list[HistoryRow] | None = None, *, ddl: list[str] | None = None
) -> Iterator[str]:
    """URL of a scratch database; with ``history``, the CLI's table holding those rows.

    ``history=None`` leaves the database without the supabase_migrations schema.
    """
    with scratch_database(purpose="test_target", server_url=pgtools.scratch_server_url()) as url:
        if history is not None:
            with psycopg.connect(url, autocommit=True) as conn:
                for statement in ddl or CLI_HISTORY_DDL:
                    conn.execute(statement)
                for version, name, statements in history:
                    conn.execute(CLI_INSERT, [version, name, statements])
        yield url
