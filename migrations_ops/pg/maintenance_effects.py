"""What maintenance statements do: REFRESH MATERIALIZED VIEW, VACUUM and ANALYZE,
CLUSTER, REINDEX and LOCK TABLE (part of ``statement_effects``, which dispatches to
``HANDLERS``).

Their lock modes are those of each command's code in PostgreSQL 15 to 18, checked
against ``pg_locks`` by ``tests/migrations_ops/pg/test_lock_modes.py``.
"""

from __future__ import annotations

from typing import Any

from migrations_ops.pg.effect_model import (
    ON_INDEX_TABLE,
    ON_INHERITORS,
    ON_VIEW_SOURCES,
    Found,
    LockRequest,
    StatementEffect,
)
from migrations_ops.pg.locks import LockMode
from migrations_ops.pg.sql_names import Relation

M = LockMode


def refresh(node: Any, effect: StatementEffect) -> None:
    view = Relation.from_range_var(node.relation)
    effect.command = "REFRESH MATERIALIZED VIEW"
    effect.rewrites.append((view, "the view's rows are computed again"))
    # Its query runs: ACCESS SHARE on what it reads, through the plain views it reads
    # (refresh_matview_datafill plans it; the rewriter locks each view and what it reads).
    # WITH NO DATA runs no query: it reads nothing (measured).
    if not node.skipData:
        effect.locks.append(LockRequest(view, M.ACCESS_SHARE, ON_VIEW_SOURCES))
    # matview.c, ExecRefreshMatView: "lockmode = stmt->concurrent ? ExclusiveLock :
    # AccessExclusiveLock" (sql-refreshmaterializedview.html: CONCURRENTLY lets reads go on).
    if node.concurrent:
        effect.command += " CONCURRENTLY"
        effect.touch(view, M.EXCLUSIVE)
        effect.does.append(f"refreshes materialized view {view}; readers keep the old rows")
    else:
        effect.touch(view, M.ACCESS_EXCLUSIVE)
        effect.does.append(f"refreshes materialized view {view}; reads wait")
        effect.hazards.append(Found("refresh_materialized_view_not_concurrently", view))


def vacuum(node: Any, effect: StatementEffect) -> None:
    options = {o.defname for o in node.options or ()}
    full = "full" in options
    effect.command = ("VACUUM" if node.is_vacuumcmd else "ANALYZE") + (" FULL" if full else "")
    effect.no_transaction = bool(node.is_vacuumcmd)
    for item in node.rels or ():
        table = Relation.from_range_var(item.relation)
        if full:
            effect.touch(table, M.ACCESS_EXCLUSIVE)
            effect.touch_partitions(table, M.ACCESS_EXCLUSIVE, item.relation)
            effect.rewrites.append((table, "VACUUM FULL writes a new copy of the table"))
            effect.hazards.append(Found("vacuum_full", table))
        else:
            effect.touch(table, M.SHARE_UPDATE_EXCLUSIVE)
            # A partitioned table is analysed (or vacuumed) partition by partition too
            # (expand_vacuum_rel: find_all_inheritors).
            effect.touch_partitions(table, M.SHARE_UPDATE_EXCLUSIVE, item.relation)
            if "analyze" in options or not node.is_vacuumcmd:
                # ANALYZE samples an ordinary table's INHERITS children for the statistics
                # of the whole tree, reading each under ACCESS SHARE
                # (acquire_inherited_sample_rows: find_all_inheritors); measured.
                effect.touch_partitions(table, M.ACCESS_SHARE, item.relation, ON_INHERITORS)
            effect.scans.append((table, effect.command.lower() + " reads the table"))
        effect.does.append(f"{effect.command.lower()} {table}")
    if not node.rels:
        effect.does.append(f"{effect.command.lower()} of every table in the database")
        effect.opaque = "a database-wide VACUUM or ANALYZE touches every table"


def cluster(node: Any, effect: StatementEffect) -> None:
    effect.command = "CLUSTER"
    if node.relation is None:
        effect.opaque = "CLUSTER without a table re-clusters every clustered table"
        effect.does.append("re-clusters every table clustered before")
        return
    table = Relation.from_range_var(node.relation)
    effect.touch(table, M.ACCESS_EXCLUSIVE)
    effect.rewrites.append((table, "CLUSTER writes a new copy of the table in index order"))
    effect.hazards.append(Found("cluster", table))
    effect.does.append(f"rewrites {table} in the order of an index")


def reindex(node: Any, effect: StatementEffect) -> None:
    concurrent = any(o.defname == "concurrently" for o in node.params or ())
    effect.command = "REINDEX" + (" CONCURRENTLY" if concurrent else "")
    effect.no_transaction = concurrent
    mode = M.SHARE_UPDATE_EXCLUSIVE if concurrent else M.SHARE
    kind = node.json.get("kind")
    if node.relation is None:
        effect.opaque = "REINDEX of a schema or database touches many tables"
        effect.does.append("rebuilds many indexes")
        return
    relation = Relation.from_range_var(node.relation)
    if kind == "REINDEX_OBJECT_INDEX":
        effect.locks.append(LockRequest(relation, mode, ON_INDEX_TABLE))
        effect.does.append(f"rebuilds index {relation}")
    else:
        effect.touch(relation, mode)
        effect.does.append(f"rebuilds the indexes of {relation}")
    if not concurrent:
        effect.hazards.append(Found("reindex_not_concurrently", relation))


_LOCK_MODES = {
    1: M.ACCESS_SHARE,
    2: M.ROW_SHARE,
    3: M.ROW_EXCLUSIVE,
    4: M.SHARE_UPDATE_EXCLUSIVE,
    5: M.SHARE,
    6: M.SHARE_ROW_EXCLUSIVE,
    7: M.EXCLUSIVE,
    8: M.ACCESS_EXCLUSIVE,
}


def lock(node: Any, effect: StatementEffect) -> None:
    mode = _LOCK_MODES.get(node.mode, M.ACCESS_EXCLUSIVE)
    effect.command = "LOCK TABLE"
    for rv in node.relations:
        table = Relation.from_range_var(rv)
        effect.touch(table, mode)
        # LockTableRecurse: the partitions and INHERITS children too, unless ONLY.
        effect.touch_partitions(table, mode, rv, ON_INHERITORS)
        effect.does.append(f"locks {table} in {mode.label} mode")
        if mode.blocks_writes:
            effect.hazards.append(Found("lock_table", table, f"{mode.label} on {table}"))


HANDLERS = {
    "RefreshMatViewStmt": refresh,
    "VacuumStmt": vacuum,
    "ClusterStmt": cluster,
    "ReindexStmt": reindex,
    "LockStmt": lock,
}
