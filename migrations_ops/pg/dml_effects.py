"""What a statement that reads or changes rows does (SELECT, INSERT, UPDATE, DELETE,
MERGE), for ``statement_effects``: the table it names, and the partitions and INHERITS
children it reaches.

DML on a partitioned table or an INHERITS parent (PostgreSQL 15; ddl-partitioning.html,
"Partition Pruning"): UPDATE, DELETE, MERGE and SELECT lock, in the statement's mode,
every child the planner keeps: expand_inherited_rtentry takes every INHERITS child
(find_all_inheritors, before constraint exclusion), expand_partitioned_rtentry only the
partitions that plan-time pruning keeps (live_parts). An INSERT locks the parent, and
each partition a row is routed to when the row is (ExecInitPartitionInfo: table_open
(partOid, RowExclusiveLock)); an INHERITS parent's rows stay in it. Measured by
test_lock_modes.py.
"""

from __future__ import annotations

from typing import Any

from migrations_ops.pg import data_loss
from migrations_ops.pg.effect_model import (
    ON_INHERITORS,
    ON_ROW_PARTITION,
    ON_UNPRUNED_INHERITORS,
    Found,
    LockRequest,
    StatementEffect,
)
from migrations_ops.pg.locks import LockMode
from migrations_ops.pg.query_filters import filters
from migrations_ops.pg.sql_names import (
    Relation,
    function_names,
    has_quals,
    referenced_relations,
    walk,
)

M = LockMode


def delete(node: Any, effect: StatementEffect) -> None:
    table = effect.change("DELETE", node, node.relation, M.ROW_EXCLUSIVE)
    _change_rows(effect, node, node.relation, table)
    effect.scans.append((table, "rows to delete are searched for"))
    if node.whereClause is None:
        effect.does.append(f"deletes every row of {table}")
        effect.hazards.append(Found("delete_without_where", table))
    else:
        effect.does.append(f"deletes the rows of {table} that match its WHERE")
    effect.losses.append(data_loss.delete_loss(node, table, effect.text))


def update(node: Any, effect: StatementEffect) -> None:
    table = effect.change("UPDATE", node, node.relation, M.ROW_EXCLUSIVE)
    _change_rows(effect, node, node.relation, table)
    columns = ", ".join(str(t.name) for t in node.targetList or () if t.tag == "ResTarget")
    if node.whereClause is None:
        effect.does.append(f"updates {columns} in every row of {table}")
        effect.hazards.append(Found("update_without_where", table))
        effect.scans.append((table, "every row gets a new version"))
    else:
        effect.does.append(f"updates {columns} in the rows of {table} that match its WHERE")


def insert(node: Any, effect: StatementEffect) -> None:
    table = effect.change("INSERT", node, node.relation, M.ROW_EXCLUSIVE)
    effect.locks.append(LockRequest(table, M.ROW_EXCLUSIVE, ON_ROW_PARTITION))
    source = node.selectStmt
    effect.inserts_maybe_none = source is not None and not getattr(source, "valuesLists", None)
    effect.run(node, skip=(node.relation,))
    effect.does.append(f"inserts rows into {table}")


def merge(node: Any, effect: StatementEffect) -> None:
    table = effect.change("MERGE", node, node.relation, M.ROW_EXCLUSIVE)
    _change_rows(effect, node, node.relation, table)
    effect.does.append(f"merges rows into {table}")
    loss = data_loss.merge_loss(node, table, effect.text)
    if loss is not None:
        effect.losses.append(loss)
        effect.does.append(f"deletes the rows of {table} its WHEN MATCHED ... DELETE reaches")


def select(node: Any, effect: StatementEffect) -> None:
    effect.command = "SELECT"
    locking = [c for n in walk(node) if n.tag == "SelectStmt" for c in n.lockingClause or ()]
    effect.read(node)
    effect.run(node, M.ROW_SHARE if locking else M.ACCESS_SHARE)
    if locking:
        for relation in referenced_relations(node):
            effect.touch(relation, M.ROW_SHARE)
    calls = sorted(set(function_names(node)))
    if calls:
        called = ", ".join(calls)
        effect.opaque = f"calls {called}: what a function does is not in the statement's text"
        effect.does.append(f"runs a query that calls {called}")
    else:
        effect.does.append("runs a query")


def _change_rows(effect: StatementEffect, node: Any, range_var: Any, relation: Relation) -> None:
    """UPDATE, DELETE or MERGE changes rows of ``relation`` and its children: each one
    the planner keeps (all but the partitions a ``WHERE`` prunes) takes ROW EXCLUSIVE,
    unless the statement names it with ``ONLY``; what else it names it reads."""
    if not has_quals(node):
        effect.touch_partitions(relation, M.ROW_EXCLUSIVE, range_var, ON_INHERITORS)
    elif getattr(range_var, "inh", True):
        # The target's own conditions (query_filters); a MERGE that inserts routes its new
        # rows to the partitions they belong in, which the rows choose (a lock note).
        rows = filters(node).get(id(range_var.json))
        effect.locks.append(
            LockRequest(relation, M.ROW_EXCLUSIVE, ON_UNPRUNED_INHERITORS, rows=rows)
        )
    if node.tag == "MergeStmt" and any(
        w.commandType == "CMD_INSERT" for w in node.mergeWhenClauses or ()
    ):
        effect.locks.append(LockRequest(relation, M.ROW_EXCLUSIVE, ON_ROW_PARTITION))
        effect.inserts_maybe_none = True  # only the rows its source has no match for
    effect.run(node, skip=(range_var,))


HANDLERS: dict[str, Any] = {
    "DeleteStmt": delete,
    "UpdateStmt": update,
    "InsertStmt": insert,
    "MergeStmt": merge,
    "SelectStmt": select,
}
