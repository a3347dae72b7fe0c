"""Copy a sample of a target's rows into a scratch database, when all of them are too many.

``copy_sample`` streams ``COPY (SELECT ... TABLESAMPLE SYSTEM (p)) TO STDOUT`` from the
target (in a READ ONLY transaction with a statement timeout) into ``COPY ... FROM STDIN``
on the scratch database, table by table, with triggers and foreign keys off there
(``session_replication_role = replica``) when the scratch role may set it: a sampled
child row may point at a parent row that was not sampled (without it, such a table's
sample fails and is reported empty). Generated columns are left for the scratch database
to compute.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg import sql

from migrations_ops.pg.target_facts import read_only

_TABLES = """
SELECT n.nspname, c.relname, c.reltuples::float8, pg_total_relation_size(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname = ANY(%s)
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""
_COLUMNS = """
SELECT attname FROM pg_attribute
WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''
ORDER BY attnum
"""


@dataclass
class SampledTable:
    table: str
    percent: float
    rows: int  # rows copied
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def copy_sample(
    source: psycopg.Connection,
    target: psycopg.Connection,
    *,
    schemas: Sequence[str],
    max_bytes: int,
    statement_timeout: str = "120s",
) -> list[SampledTable]:
    """Copy about ``max_bytes`` worth of rows, the same fraction of every table."""
    copied = []
    with read_only(source, statement_timeout=statement_timeout, lock_timeout="5s"):
        tables = source.execute(_TABLES, [list(schemas)]).fetchall()
        total = sum(size or 0 for *_, size in tables) or 1
        percent = max(0.01, min(100.0, max_bytes / total * 100))
        # Without the privilege foreign keys stay on: a table whose sample breaks one is
        # reported empty.
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            target.execute("SET session_replication_role = replica")
        try:
            for schema, name, _, _ in tables:
                qualified = f"{schema}.{name}"
                columns = [r[0] for r in source.execute(_COLUMNS, [qualified]).fetchall()]
                if not columns:
                    continue
                try:
                    rows = _copy_table(source, target, schema, name, columns, percent)
                except psycopg.Error as e:
                    reason = (e.diag.message_primary or str(e)).strip()
                    copied.append(SampledTable(qualified, round(percent, 3), 0, reason))
                    continue
                copied.append(SampledTable(qualified, round(percent, 3), rows))
        finally:
            with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
                target.execute("RESET session_replication_role")
    return copied


def _copy_table(
    source: psycopg.Connection,
    target: psycopg.Connection,
    schema: str,
    name: str,
    columns: list[str],
    percent: float,
) -> int:
    table = sql.Identifier(schema, name)
    names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    out = sql.SQL(
        "COPY (SELECT {} FROM {} TABLESAMPLE SYSTEM ({}) REPEATABLE (7)) TO STDOUT"
    ).format(names, table, sql.Literal(percent))
    into = sql.SQL("COPY {} ({}) FROM STDIN").format(table, names)
    rows = 0
    with (
        source.cursor() as reader,
        target.cursor() as writer,
        reader.copy(out) as copy_out,
        writer.copy(into) as copy_in,
    ):
        for data in copy_out:
            copy_in.write(data)
            rows += bytes(data).count(b"\n")
    return rows
