"""Statements that change a table's catalog entries without ALTER TABLE, for
``statement_effects``: publications (Supabase Realtime's ``supabase_realtime``),
extended statistics, moving a relation to another schema. Their lock modes were measured
on PostgreSQL 15 (test_lock_catalog.py):

- ``CREATE PUBLICATION ... FOR TABLE`` and ``ALTER PUBLICATION ... ADD | DROP | SET
  TABLE`` take SHARE UPDATE EXCLUSIVE on each table they name (publicationcmds.c,
  ``OpenTableList``), and on its INHERITS children unless ``ONLY``, not on a partitioned
  table's partitions; ``SET TABLE`` also on each table it takes out of the publication,
  which the text does not tell (a lock note);
- ``CREATE STATISTICS``: SHARE UPDATE EXCLUSIVE on its table (statscmds.c);
- ``ALTER TABLE | VIEW | MATERIALIZED VIEW ... SET SCHEMA``: ACCESS EXCLUSIVE
  (``AlterTableNamespace``), and the relation has a new name for what follows.
"""

from __future__ import annotations

from typing import Any

from migrations_ops.pg.effect_model import ON_INHERITANCE_CHILDREN, Found, StatementEffect
from migrations_ops.pg.locks import LockMode
from migrations_ops.pg.sql_names import Relation

M = LockMode
_RELATION_KINDS = ("OBJECT_TABLE", "OBJECT_VIEW", "OBJECT_MATVIEW", "OBJECT_FOREIGN_TABLE")


def publication(node: Any, effect: StatementEffect) -> None:
    action = str(node.action or "")
    creating = node.tag == "CreatePublicationStmt"
    effect.command = "CREATE PUBLICATION" if creating else "ALTER PUBLICATION"
    verb = {"AP_AddObjects": "adds", "AP_DropObjects": "drops", "AP_SetObjects": "sets"}
    tables = []
    for spec in node.pubobjects or ():
        if spec.pubobjtype != "PUBLICATIONOBJ_TABLE" or spec.pubtable is None:
            continue
        range_var = spec.pubtable.relation
        table = Relation.from_range_var(range_var)
        tables.append(str(table))
        effect.touch(table, M.SHARE_UPDATE_EXCLUSIVE)
        effect.touch_partitions(table, M.SHARE_UPDATE_EXCLUSIVE, range_var, ON_INHERITANCE_CHILDREN)
    shown = ", ".join(tables) or "no table by name"
    if creating:
        effect.does.append(f"creates publication {node.pubname} of {shown}")
    else:
        effect.does.append(f"{verb.get(action, 'changes')} {shown} in publication {node.pubname}")
    if action == "AP_SetObjects":
        effect.lock_notes.append(
            f"ALTER PUBLICATION ... SET TABLE also takes SHARE UPDATE EXCLUSIVE on each table "
            f"publication {node.pubname} holds when it runs and the new list leaves out: "
            "which tables a publication holds is not read from the target"
        )


def statistics(node: Any, effect: StatementEffect) -> None:
    effect.command = "CREATE STATISTICS"
    for range_var in node.relations or ():
        if range_var.tag == "RangeVar":
            table = Relation.from_range_var(range_var)
            effect.touch(table, M.SHARE_UPDATE_EXCLUSIVE)
            effect.does.append(f"creates extended statistics on {table}")


def set_schema(node: Any, effect: StatementEffect) -> None:
    kind = str(node.objectType)
    effect.command = "ALTER ... SET SCHEMA"
    if kind not in _RELATION_KINDS or node.relation is None:
        effect.does.append(
            f"moves a {kind.removeprefix('OBJECT_').lower()} to schema {node.newschema}"
        )
        return
    old = Relation.from_range_var(node.relation)
    new = Relation(str(node.newschema), old.name)
    effect.touch(old, M.ACCESS_EXCLUSIVE)
    effect.renames.append((old, new))
    effect.does.append(f"moves {old} to schema {node.newschema}")
    effect.hazards.append(Found("rename_breaks_clients", old, f"{old} becomes {new}"))


HANDLERS: dict[str, Any] = {
    "CreatePublicationStmt": publication,
    "AlterPublicationStmt": publication,
    "CreateStatsStmt": statistics,
    "AlterObjectSchemaStmt": set_schema,
}
