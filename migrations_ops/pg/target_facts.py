"""What the risk analysis needs to know about a target, read without changing it.

Every query runs in ``read_only``: a ``READ ONLY`` transaction with a ``statement_timeout``
and a ``lock_timeout`` set for that transaction only (``set_config(..., true)``), so
nothing outlives it on a pooled server connection, nothing can be written, and a read
that would queue behind a migration's lock gives up instead of joining the queue.

- ``read_catalog``: the relations in the user schemas (kind, ``reltuples``), which
  table each index belongs to, constraints (the table each foreign key references, and
  whether each is valid yet),
  each partitioned table's partitions and default partition, its partition key and each
  partition's bound, each table's plain INHERITS children, what each view and
  materialized view reads (and which columns), the session's ``search_path``;
- ``read_details``: for the relations the release touches, ``pg_total_relation_size``
  and their columns; the volatility of the functions column defaults call;
- ``count_losses``: how many rows or non-null values each ``data_loss.Loss`` destroys:
  exact up to ``exact_max_rows`` (and within the statement timeout); beyond that, a
  ``TABLESAMPLE SYSTEM`` sample of about ``sample_rows`` rows, scaled up, and the result
  says it was sampled; when even that times out, the planner's estimate for whole-table
  losses, or nothing.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from pglast.parser import ParseError
from psycopg import sql
from psycopg.pq import TransactionStatus

from migrations_ops.pg import data_loss
from migrations_ops.pg.key_values import KeyCollation, collation_order
from migrations_ops.pg.partition_pruning import PartitionBound, PartitionKey, bound_from_spec
from migrations_ops.pg.sql_names import Relation, TypeSpec, parse

_KINDS = {
    "r": "table",
    "p": "partitioned table",
    "v": "view",
    "m": "materialized view",
    "f": "foreign table",
}
_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")


@contextlib.contextmanager
def read_only(
    conn: psycopg.Connection, *, statement_timeout: str = "5s", lock_timeout: str = "1s"
) -> Iterator[psycopg.Connection]:
    """A READ ONLY transaction with timeouts on ``conn``, always rolled back."""
    if conn.info.transaction_status != TransactionStatus.IDLE:
        raise ValueError("read_only needs a connection outside any transaction")
    if conn.autocommit:
        conn.execute("BEGIN TRANSACTION READ ONLY")
    else:
        conn.execute("SET TRANSACTION READ ONLY")
    try:
        conn.execute(
            "SELECT set_config('statement_timeout', %s, true), "
            "set_config('lock_timeout', %s, true)",
            [statement_timeout, lock_timeout],
        )
        yield conn
    finally:
        if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
            conn.execute("ROLLBACK")


@dataclass
class ColumnFacts:
    type: TypeSpec
    not_null: bool
    # A valid CHECK (column IS NOT NULL) lets SET NOT NULL skip its scan (PostgreSQL 12+).
    not_null_check: bool = False


@dataclass
class RelationFacts:
    name: str
    kind: str
    rows: int | None  # pg_class.reltuples; None when the table was never analysed
    bytes: int | None = None  # pg_total_relation_size; None when not read
    columns: dict[str, ColumnFacts] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "rows": self.rows, "bytes": self.bytes}


@dataclass
class TargetFacts:
    """The target as the release finds it."""

    source: str  # "staging", or "the scratch copy" when the target could not be read
    server_version_num: int = 0
    search_path: list[str] = field(default_factory=lambda: ["public"])
    relations: dict[str, RelationFacts] = field(default_factory=dict)
    indexes: dict[str, str] = field(default_factory=dict)  # index -> table
    # (table, foreign key) -> the table it references; (table, name) of every other
    # constraint: VALIDATE or DROP of a foreign key also locks the table it references.
    constraint_targets: dict[tuple[str, str], str] = field(default_factory=dict)
    other_constraints: set[tuple[str, str]] = field(default_factory=set)
    # (table, name) of each constraint not yet valid (added NOT VALID): VALIDATE of a
    # valid one checks nothing and locks nothing else.
    not_valid_constraints: set[tuple[str, str]] = field(default_factory=set)
    # (table, name) of each CHECK without NO INHERIT: plain INHERITS children hold a copy,
    # which DROP and VALIDATE CONSTRAINT lock too.
    inherited_checks: set[tuple[str, str]] = field(default_factory=set)
    # (table, foreign key) -> (its columns, the referenced table's columns): changing the
    # type of one rebuilds the foreign key, which locks the table at its other end.
    foreign_key_columns: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]] = field(
        default_factory=dict
    )
    default_partitions: dict[str, str] = field(default_factory=dict)  # partitioned -> default
    # partition -> the partitioned table it belongs to (a sub-partition's is a partition):
    # statements that recurse (TRUNCATE, DROP TABLE, most of ALTER TABLE...) lock them all.
    partition_of: dict[str, str] = field(default_factory=dict)
    # partitioned table -> its key; partition -> its bound: the partitions a query's WHERE
    # leaves to plan-time pruning, which locks only those (partition_pruning).
    partition_keys: dict[str, PartitionKey] = field(default_factory=dict)
    partition_bounds: dict[str, PartitionBound] = field(default_factory=dict)
    # The order of the database's default collation (key_values.KeyCollation.order), for
    # the text keys of the tables the release creates.
    default_collation: str = ""
    # child -> the tables it INHERITS from (plain inheritance: a table may have several):
    # TRUNCATE, LOCK, most of ALTER TABLE and DML without ONLY lock the children too.
    inherits_from: dict[str, set[str]] = field(default_factory=dict)
    # view or materialized view -> each relation its query reads -> the columns it uses
    # (none for count(*)): DROP ... CASCADE drops (and locks) the views built on what it
    # drops; REFRESH reads (and locks) what the view reads.
    view_reads: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    volatility: dict[str, str] = field(default_factory=dict)  # function name -> v / s / i
    oids: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def relation(self, qualified: str) -> RelationFacts | None:
        return self.relations.get(qualified)

    @property
    def references(self) -> dict[str, set[str]]:
        """Table -> the tables its foreign keys point at."""
        out: dict[str, set[str]] = {}
        for (source, _), target in self.constraint_targets.items():
            out.setdefault(source, set()).add(target)
        return out

    @property
    def referenced_by(self) -> dict[str, set[str]]:
        """Table -> the tables whose foreign keys point at it."""
        out: dict[str, set[str]] = {}
        for (source, _), target in self.constraint_targets.items():
            out.setdefault(target, set()).add(source)
        return out


_RELATIONS = """
SELECT c.oid, n.nspname, c.relname, c.relkind, c.reltuples::float8
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname <> ALL(%(system)s) AND n.nspname NOT LIKE 'pg\\_temp\\_%%'
  AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%%'
"""
_INDEXES = """
SELECT n.nspname, i.relname, tn.nspname, t.relname
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_namespace n ON n.oid = i.relnamespace
JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace
WHERE n.nspname <> ALL(%(system)s)
"""
_CONSTRAINTS = """
SELECT sn.nspname, s.relname, c.conname, tn.nspname, t.relname,
       ARRAY(SELECT attname FROM pg_attribute WHERE attrelid = c.conrelid
             AND attnum = ANY(c.conkey) ORDER BY attnum),
       ARRAY(SELECT attname FROM pg_attribute WHERE attrelid = c.confrelid
             AND attnum = ANY(c.confkey) ORDER BY attnum),
       c.convalidated, c.contype = 'c' AND NOT c.connoinherit
FROM pg_constraint c
JOIN pg_class s ON s.oid = c.conrelid JOIN pg_namespace sn ON sn.oid = s.relnamespace
LEFT JOIN pg_class t ON t.oid = c.confrelid AND c.contype = 'f'
LEFT JOIN pg_namespace tn ON tn.oid = t.relnamespace
WHERE sn.nspname <> ALL(%(system)s)
"""
_DEFAULT_PARTITIONS = """
SELECT pn.nspname, p.relname, dn.nspname, d.relname
FROM pg_partitioned_table t
JOIN pg_class p ON p.oid = t.partrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace
JOIN pg_class d ON d.oid = t.partdefid JOIN pg_namespace dn ON dn.oid = d.relnamespace
WHERE pn.nspname <> ALL(%(system)s)
"""
# Each key column's name and type (an enum: "enum"), and its collation: name, provider,
# locale, deterministic, whether the column's own collation is the key's, whether the
# key's operator class is its type's default; partattrs 0 is an expression (NULL name).
# The database's default collation is read from pg_database (datlocprovider: PostgreSQL
# 15; before it, libc).
_PARTITION_KEYS = """
SELECT n.nspname, c.relname, t.partstrat::text,
       ARRAY(SELECT a.attname FROM unnest(t.partattrs::int2[]) WITH ORDINALITY k(attnum, i)
             LEFT JOIN pg_attribute a ON a.attrelid = t.partrelid AND a.attnum = k.attnum
             ORDER BY k.i),
       ARRAY(SELECT CASE WHEN y.typtype = 'e' THEN 'enum' ELSE coalesce(y.typname, '') END
             FROM unnest(t.partattrs::int2[]) WITH ORDINALITY k(attnum, i)
             LEFT JOIN pg_attribute a ON a.attrelid = t.partrelid AND a.attnum = k.attnum
             LEFT JOIN pg_type y ON y.oid = a.atttypid ORDER BY k.i),
       ARRAY(SELECT json_build_array(
                      co.collname,
                      CASE WHEN co.oid = 100 THEN coalesce(db.provider, 'c')
                           ELSE co.collprovider::text END,
                      CASE WHEN co.oid = 100 THEN db.locale ELSE co.collcollate END,
                      co.collisdeterministic, a.attcollation = k.coll, oc.opcdefault)::text
             FROM unnest(t.partattrs::int2[], t.partcollation::oid[], t.partclass::oid[])
                  WITH ORDINALITY k(attnum, coll, cls, i)
             LEFT JOIN pg_attribute a ON a.attrelid = t.partrelid AND a.attnum = k.attnum
             LEFT JOIN pg_collation co ON co.oid = k.coll
             LEFT JOIN pg_opclass oc ON oc.oid = k.cls
             ORDER BY k.i)
FROM pg_partitioned_table t
JOIN pg_class c ON c.oid = t.partrelid JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN (SELECT to_jsonb(d) ->> 'datlocprovider' AS provider, d.datcollate AS locale
            FROM pg_database d WHERE d.datname = current_database()) db
WHERE n.nspname <> ALL(%(system)s)
"""
_DEFAULT_COLLATION = """
SELECT to_jsonb(d) ->> 'datlocprovider', d.datcollate FROM pg_database d
WHERE d.datname = current_database()
"""
_PARTITION_BOUNDS = """
SELECT n.nspname, c.relname, pg_get_expr(c.relpartbound, c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relispartition AND n.nspname <> ALL(%(system)s)
"""
# Partitions (of a partitioned table, relkind 'p') and plain INHERITS children (of an
# ordinary table, relkind 'r').
_INHERITS = """
SELECT cn.nspname, c.relname, pn.nspname, p.relname, p.relkind
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace
JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = p.relnamespace
WHERE p.relkind IN ('p', 'r') AND pn.nspname <> ALL(%(system)s)
"""
# A view's dependencies are its _RETURN rule's (pg_rewrite): one row for each relation
# its query reads (refobjsubid 0) and one for each column it uses.
_VIEW_READS = """
SELECT vn.nspname, v.relname, tn.nspname, t.relname, a.attname
FROM pg_depend d
JOIN pg_rewrite r ON r.oid = d.objid
JOIN pg_class v ON v.oid = r.ev_class JOIN pg_namespace vn ON vn.oid = v.relnamespace
JOIN pg_class t ON t.oid = d.refobjid JOIN pg_namespace tn ON tn.oid = t.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
  AND d.refobjsubid > 0
WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
  AND d.deptype = 'n' AND v.oid <> t.oid AND v.relkind IN ('v', 'm')
  AND vn.nspname <> ALL(%(system)s)
"""
_COLUMNS = """
SELECT a.attname, t.typname, a.atttypmod, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       EXISTS (
         SELECT 1 FROM pg_constraint k
         WHERE k.conrelid = a.attrelid AND k.contype = 'c' AND k.convalidated
           AND pg_get_constraintdef(k.oid) = format('CHECK ((%%I IS NOT NULL))', a.attname)
       )
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = %(oid)s AND a.attnum > 0 AND NOT a.attisdropped
"""


def read_catalog(
    conn: psycopg.Connection,
    *,
    source: str,
    statement_timeout: str = "5s",
    lock_timeout: str = "1s",
) -> TargetFacts:
    """Relations, indexes, foreign keys and the search_path; sizes come from ``read_details``."""
    facts = TargetFacts(source=source, server_version_num=conn.info.server_version)
    params = {"system": list(_SYSTEM_SCHEMAS)}
    with read_only(conn, statement_timeout=statement_timeout, lock_timeout=lock_timeout):
        path = conn.execute("SELECT current_schemas(false)").fetchone()
        facts.search_path = list(path[0]) if path and path[0] else ["public"]
        for oid, schema, name, kind, reltuples in conn.execute(_RELATIONS, params).fetchall():
            qualified = f"{schema}.{name}"
            rows = int(reltuples) if reltuples is not None and reltuples >= 0 else None
            facts.relations[qualified] = RelationFacts(qualified, _KINDS[kind], rows)
            facts.oids[qualified] = oid
        for schema, index, table_schema, table in conn.execute(_INDEXES, params).fetchall():
            facts.indexes[f"{schema}.{index}"] = f"{table_schema}.{table}"
        for (
            schema,
            table,
            constraint,
            target_schema,
            target,
            columns,
            referenced,
            valid,
            inherited_check,
        ) in conn.execute(_CONSTRAINTS, params).fetchall():
            key = (f"{schema}.{table}", constraint)
            if not valid:
                facts.not_valid_constraints.add(key)
            if inherited_check:
                facts.inherited_checks.add(key)
            if target is None:
                facts.other_constraints.add(key)
            else:
                facts.constraint_targets[key] = f"{target_schema}.{target}"
                facts.foreign_key_columns[key] = (tuple(columns), tuple(referenced))
        for schema, table, default_schema, default in conn.execute(
            _DEFAULT_PARTITIONS, params
        ).fetchall():
            facts.default_partitions[f"{schema}.{table}"] = f"{default_schema}.{default}"
        for schema, table, strategy, columns, types, collations in conn.execute(
            _PARTITION_KEYS, params
        ).fetchall():
            facts.partition_keys[f"{schema}.{table}"] = PartitionKey(
                strategy,
                tuple(columns),
                tuple(_key_type(strategy, t, c) for t, c in zip(types, collations, strict=True)),
                tuple(map(_key_collation, collations)),
            )
        database = conn.execute(_DEFAULT_COLLATION).fetchone()
        if database is not None:
            facts.default_collation = collation_order(database[0] or "c", database[1] or "")
        # The bounds' dates in ISO (YYYY-MM-DD), for this transaction only.
        conn.execute("SELECT set_config('DateStyle', 'ISO', true)")
        for schema, table, bound in conn.execute(_PARTITION_BOUNDS, params).fetchall():
            parsed = partition_bound(bound or "")
            if parsed is not None:
                facts.partition_bounds[f"{schema}.{table}"] = parsed
        for schema, child, parent_schema, parent, kind in conn.execute(
            _INHERITS, params
        ).fetchall():
            if kind == "p":
                facts.partition_of[f"{schema}.{child}"] = f"{parent_schema}.{parent}"
            else:
                parents = facts.inherits_from.setdefault(f"{schema}.{child}", set())
                parents.add(f"{parent_schema}.{parent}")
        for schema, view, read_schema, read, column in conn.execute(_VIEW_READS, params).fetchall():
            reads = facts.view_reads.setdefault(f"{schema}.{view}", {})
            columns = reads.setdefault(f"{read_schema}.{read}", set())
            if column is not None:
                columns.add(column)
    return facts


def _key_type(strategy: str, type_name: str, described: str) -> str:
    """A key column's type, or "" for a HASH key whose operator class is not its type's
    default: its hash function is not the type's (a RANGE or LIST text key's class is
    its ``KeyCollation``'s business)."""
    *_, default_class = json.loads(described)
    return "" if strategy == "h" and default_class is False else type_name


def _key_collation(described: str) -> KeyCollation | None:
    """A key column's collation from ``_PARTITION_KEYS``'s description; None for none."""
    name, provider, locale, deterministic, column_matches, default_class = json.loads(described)
    if name is None:
        return None
    order = collation_order(provider or "", locale or "", bool(deterministic))
    if not default_class:  # text_pattern_ops...: its order is not the collation's
        order = "equality" if order else ""
    return KeyCollation(name, order, bool(column_matches))


def partition_bound(text: str) -> PartitionBound | None:
    """A partition's ``FOR VALUES ...`` (or ``DEFAULT``) as ``pg_get_expr`` writes it;
    None when it is not a bound or holds values that are not plain constants."""
    if text.strip().upper() == "DEFAULT":
        return PartitionBound(default=True)
    try:
        (statement,) = parse(f"CREATE TABLE p PARTITION OF t {text}")
    except (ParseError, ValueError):  # not SQL, or not one statement
        return None
    return bound_from_spec(statement.node.partbound)


def read_details(
    conn: psycopg.Connection,
    facts: TargetFacts,
    *,
    touched: Sequence[str],
    functions: Sequence[str] = (),
    statement_timeout: str = "5s",
    lock_timeout: str = "1s",
) -> None:
    """Sizes and columns of the ``touched`` relations, volatility of ``functions``."""
    with read_only(conn, statement_timeout=statement_timeout, lock_timeout=lock_timeout):
        if functions:
            rows = conn.execute(
                "SELECT proname, string_agg(provolatile::text, '') FROM pg_proc "
                "WHERE proname = ANY(%s) GROUP BY proname",
                [sorted({f.rsplit(".", 1)[-1] for f in functions})],
            ).fetchall()
            for name, kinds in rows:
                # Of overloads, the most volatile: v > s > i.
                facts.volatility[name] = "v" if "v" in kinds else "s" if "s" in kinds else "i"
        for qualified in touched:
            relation = facts.relations.get(qualified)
            if relation is not None and relation.bytes is None:
                _read_relation(conn, relation, facts.oids[qualified], facts)


def _read_relation(
    conn: psycopg.Connection, relation: RelationFacts, oid: int, facts: TargetFacts
) -> None:
    try:
        with conn.transaction():
            size = conn.execute("SELECT pg_total_relation_size(%s)", [oid]).fetchone()
            relation.bytes = int(size[0]) if size and size[0] is not None else None
    except psycopg.errors.LockNotAvailable:
        facts.notes.append(
            f"{relation.name}: its size could not be read within the lock timeout (another "
            "session holds a strong lock on it)"
        )
    for name, typname, typmod, written, not_null, check in conn.execute(
        _COLUMNS, {"oid": oid}
    ).fetchall():
        relation.columns[name] = ColumnFacts(
            TypeSpec.from_catalog(typname, typmod, written), not_null, check
        )


@dataclass
class LossCount:
    """How much one loss destroys on the target, and how it was counted."""

    count: int | None
    method: str  # exact | sampled | estimate | not_counted
    note: str = ""
    sample_percent: float | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "method": self.method,
            "note": self.note,
            "sample_percent": self.sample_percent,
        }


@dataclass
class CountRequest:
    loss: data_loss.Loss
    relation: Relation  # schema-qualified
    old_type: TypeSpec | None = None  # for type changes


def count_losses(
    conn: psycopg.Connection,
    requests: Sequence[CountRequest],
    facts: TargetFacts,
    *,
    exact_max_rows: int = 1_000_000,
    sample_rows: int = 100_000,
    count_timeout: str = "5s",
    lock_timeout: str = "1s",
) -> list[LossCount]:
    """One LossCount per request, in order; reads only, one READ ONLY transaction."""
    results: list[LossCount] = []
    with read_only(conn, statement_timeout=count_timeout, lock_timeout=lock_timeout):
        conn.execute(
            "SELECT set_config('search_path', %s, true)",
            [", ".join(f'"{s}"' for s in facts.search_path)],
        )
        for request in requests:
            results.append(_count(conn, request, facts, exact_max_rows, sample_rows))
    return results


def _queries(request: CountRequest) -> tuple[Any, Any, str] | str:
    """(exact query, percent -> sampled query, unit) or why it cannot be counted."""
    loss = request.loss
    relation = request.relation
    table = sql.Identifier(relation.schema or "public", relation.name)
    if loss.kind == data_loss.DELETE_ROWS:
        if loss.not_counted:
            return loss.not_counted
        exact_text, sampled_text = data_loss.delete_count(loss, relation)
        return sql.SQL(exact_text), lambda p: sql.SQL(sampled_text(p)), "rows"
    if loss.kind == data_loss.TABLE_ROWS:
        what: sql.Composable = sql.SQL("count(*)")
        where: sql.Composable = sql.SQL("")
    elif loss.kind == data_loss.COLUMN_VALUES:
        what = sql.SQL("count({})").format(sql.Identifier(loss.column or ""))
        where = sql.SQL("")
    else:
        assert loss.new_type is not None
        if request.old_type is None:
            return "the column's current type is unknown"
        column = sql.Identifier(loss.column or "")
        predicate, description = data_loss.narrowing_predicate(
            column, request.old_type, loss.new_type
        )
        if predicate is None:
            return description
        what = sql.SQL("count(*)")
        where = sql.SQL(" WHERE {} IS NOT NULL AND {}").format(column, predicate)

    def build(sample: float | None) -> sql.Composable:
        source: sql.Composable = table
        if sample is not None:
            source = sql.SQL("{} TABLESAMPLE SYSTEM ({}) REPEATABLE (7)").format(
                table, sql.Literal(round(sample, 6))
            )
        return sql.SQL("SELECT {} FROM {}{}").format(what, source, where)

    return build(None), build, "rows"


def _count(
    conn: psycopg.Connection,
    request: CountRequest,
    facts: TargetFacts,
    exact_max_rows: int,
    sample_rows: int,
) -> LossCount:
    started = time.monotonic()
    qualified = f"{request.relation.schema}.{request.relation.name}"
    relation = facts.relation(qualified)
    if relation is None:
        return LossCount(None, "not_counted", f"{qualified} is not on {facts.source}")
    queries = _queries(request)
    if isinstance(queries, str):
        return LossCount(None, "not_counted", queries)
    exact, sampled, _unit = queries
    estimated = relation.rows
    if estimated is None or estimated <= exact_max_rows:
        value = _run(conn, exact)
        if value is not None:
            return LossCount(value, "exact", seconds=time.monotonic() - started)
        note = "the exact count gave up (statement or lock timeout)"
    else:
        note = (
            f"{relation.name} holds about {estimated:,} rows, "
            f"over exact_max_rows={exact_max_rows:,}"
        )
    rows = estimated if estimated else max(sample_rows, 1) * 100
    percent = min(100.0, max(0.001, sample_rows / max(rows, 1) * 100))
    value = _run(conn, sampled(percent))
    if value is not None:
        scaled = round(value * 100 / percent)
        return LossCount(
            scaled,
            "sampled",
            f"{note}: counted on a {percent:.3g}% sample (TABLESAMPLE SYSTEM) and scaled up",
            sample_percent=percent,
            seconds=time.monotonic() - started,
        )
    if request.loss.kind == data_loss.TABLE_ROWS and estimated is not None:
        return LossCount(
            estimated,
            "estimate",
            f"{note}, and the sample timed out too: the planner's estimate (reltuples)",
            seconds=time.monotonic() - started,
        )
    return LossCount(None, "not_counted", f"{note}, and the sample timed out too")


def _run(conn: psycopg.Connection, query: Any) -> int | None:
    """The count, or None when it ran out of time (or was refused a lock)."""
    try:
        with conn.transaction():
            row = conn.execute(query).fetchone()
    except (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable):
        return None
    return int(row[0]) if row and row[0] is not None else 0
