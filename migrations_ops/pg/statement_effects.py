"""What one SQL statement does to tables, read from PostgreSQL's own parse tree (pglast).

``analyse(statement)`` parses one statement, as the Supabase CLI sends it, with
libpg_query (the server's grammar, through pglast) and says, without a database:

- which relations it touches and the table lock mode each one gets (the modes of
  ``AlterTableGetLockLevel`` and of each command's code in PostgreSQL 15 to 18; see
  ``tests/migrations_ops/pg/test_lock_modes.py``, which checks them against ``pg_locks``);
- what it creates, drops and renames; what it rewrites or reads in full;
- the hazards in ``hazards.KINDS`` it matches, and the data it may destroy.

Facts that need the database (which tables exist, their sizes, the old type of a column,
which table an index belongs to) are settled later by ``release_risk``: the effects keep
names as written and say what they depend on. Nothing here uses regular expressions on
SQL. A statement the parser cannot read is returned with ``parse_error`` set: newer
syntax than the parser's grammar, or a piece the CLI's splitter cut oddly; never an
exception.

Each statement type has a handler (``_HANDLERS``); ``ALTER TABLE``'s subcommands are read
by ``alter_table_effects``, the maintenance statements (REFRESH, VACUUM, CLUSTER,
REINDEX, LOCK) by ``maintenance_effects``, the statements that read or change rows
(SELECT, INSERT, UPDATE, DELETE, MERGE) by ``dml_effects``.
"""

from __future__ import annotations

import contextlib
from typing import Any

from pglast.parser import ParseError, get_postgresql_version

from migrations_ops.pg import (
    alter_table_effects,
    catalog_effects,
    data_loss,
    dml_effects,
    maintenance_effects,
    partition_pruning,
)
from migrations_ops.pg.effect_model import (
    ON_DEPENDENT_VIEWS,
    ON_INDEX_TABLE,
    ON_INHERITORS,
    ON_PARENT,
    ON_REFERENCED,
    ON_REFERENCING,
    ON_REFERENCING_ALL,
    Found,
    LockRequest,
    StatementEffect,
)
from migrations_ops.pg.locks import LockMode
from migrations_ops.pg.sql_names import (
    Node,
    Relation,
    TypeSpec,
    names,
    parse,
    referenced_relations,
)
from migrations_ops.pg.sqlsplit import Statement

M = LockMode
_GRAMMAR = ".".join(str(part) for part in get_postgresql_version())

# Object kinds (the parse tree's ObjectType) that are relations: a statement on one locks
# the relation itself.
_RELATION_KINDS = ("OBJECT_TABLE", "OBJECT_VIEW", "OBJECT_MATVIEW", "OBJECT_FOREIGN_TABLE")
# Object kinds that live on a table, named (schema.)table.name: the table gets the lock.
_ON_TABLE_KINDS = ("OBJECT_POLICY", "OBJECT_TRIGGER", "OBJECT_RULE")
# ... and a COMMENT on one reads the table (get_object_address: ACCESS SHARE).
_COMMENTED_ON_TABLE = (*_ON_TABLE_KINDS, "OBJECT_TABCONSTRAINT")


def _kind_words(kind: str) -> str:
    """An ObjectType as the effects' sentences say it: "OBJECT_MATVIEW" is "materialized
    view", "OBJECT_FOREIGN_TABLE" "foreign_table"."""
    return kind.removeprefix("OBJECT_").lower().replace("matview", "materialized view")


def analyse(statement: Statement) -> StatementEffect:
    """The effects of one statement; never raises on SQL it cannot read."""
    effect = StatementEffect(index=statement.index, line=statement.line, text=statement.text)
    try:
        parsed = parse(statement.text)
    except ParseError as e:
        message, position = e.args[0], e.args[1] if len(e.args) > 1 else None
        where = ""
        if isinstance(position, int):
            line = statement.line + statement.text.count("\n", 0, max(position - 1, 0))
            where = f" (line {line})"
        effect.parse_error = f"{message}{where}"
        effect.command = "unreadable"
        effect.does.append(
            f"the parser (libpg_query, PostgreSQL {_GRAMMAR} grammar) could not read this "
            "statement: " + effect.parse_error
        )
        return effect
    if not parsed:
        effect.command = "comment"
        effect.does.append("comment only: nothing runs")
        return effect
    first = parsed[0]
    location = first.location
    effect.line = statement.line + statement.text.count("\n", 0, location)
    effect.text = statement.text[location:]
    if len(parsed) > 1:
        effect.parse_error = (
            f"{len(parsed)} commands in one statement: the CLI sends them together over the "
            "extended protocol, where PostgreSQL refuses more than one"
        )
    node: Any = first.node
    handler = _HANDLERS.get(node.tag)
    if handler is None:
        effect.command = _command_name(node)
        effect.does.append(effect.command)
        effect.read(node)
    else:
        handler(node, effect)
    return effect


def _command_name(node: Any) -> str:
    name = node.tag.removesuffix("Stmt")
    out = ""
    for ch in name:
        if ch.isupper() and out:
            out += " "
        out += ch.upper()
    return out


# --- handlers, one per statement type ---------------------------------------------------


def _create_table(node: Any, effect: StatementEffect) -> None:
    table = Relation.from_range_var(node.relation)
    effect.command = "CREATE TABLE"
    effect.creates.append(table)
    effect.does.append(f"creates table {table}")
    skip: tuple[Any, ...] = (node.relation,)
    for parent in node.inhRelations or ():
        if parent.tag == "RangeVar":
            skip += (parent,)
            mode = M.ACCESS_EXCLUSIVE if node.partbound is not None else M.SHARE_UPDATE_EXCLUSIVE
            effect.touch(Relation.from_range_var(parent), mode)
            if node.partbound is not None:
                alter_table_effects.partition_locks(effect, Relation.from_range_var(parent))
                effect.partition_adds.append((table, Relation.from_range_var(parent)))
                if node.partbound.is_default:
                    effect.default_partition_adds.append(table)
                bound = partition_pruning.bound_from_spec(node.partbound)
                if bound is not None:
                    effect.partition_bounds_added.append((table, bound))
            else:
                effect.inherit_adds.append((table, Relation.from_range_var(parent)))
            what = "partition of" if node.partbound is not None else "inherits from"
            effect.does.append(f"{what} {Relation.from_range_var(parent)}")
    for element in node.tableElts or ():
        constraints = []
        column = None
        if element.tag == "ColumnDef":
            constraints = list(element.constraints or ())
            column = element.colname
        elif element.tag == "Constraint":
            constraints = [element]
        elif element.tag == "TableLikeClause":
            skip += (element.relation,)
            effect.touch(Relation.from_range_var(element.relation), M.ACCESS_SHARE)
        for constraint in constraints:
            alter_table_effects.constraint_added(effect, table, constraint, column)
            if constraint.contype == "CONSTR_FOREIGN" and constraint.pktable:
                skip += (constraint.pktable,)
                effect.touch(Relation.from_range_var(constraint.pktable), M.SHARE_ROW_EXCLUSIVE)
    if node.partspec is not None:
        types = {
            str(e.colname): ""
            if e.typeName.arrayBounds
            else TypeSpec.from_type_name(e.typeName).name
            for e in node.tableElts or ()
            if e.tag == "ColumnDef" and e.typeName is not None
        }
        collations = {
            str(e.colname): ".".join(names(e.collClause.collname))
            for e in node.tableElts or ()
            if e.tag == "ColumnDef" and e.collClause is not None
        }
        key = partition_pruning.key_from_spec(node.partspec, types, collations)
        effect.partition_keys_added.append((table, key))
    effect.read(node, skip=skip)


def _create_table_as(node: Any, effect: StatementEffect) -> None:
    target = Relation.from_range_var(node.into.rel)
    kind = "materialized view" if node.objtype == "OBJECT_MATVIEW" else "table"
    effect.command = f"CREATE {kind.upper()} AS"
    effect.creates.append(target)
    effect.does.append(f"creates {kind} {target} from a query")
    effect.read(node.query)
    effect.run(node.query)
    for relation in referenced_relations(node.query):
        effect.scans.append((relation, f"read to fill {target}"))
        if node.objtype == "OBJECT_MATVIEW":
            effect.view_reads.append((target, relation, True))


def _create_view(node: Any, effect: StatementEffect) -> None:
    view = Relation.from_range_var(node.view)
    effect.command = "CREATE VIEW"
    if node.replace:
        # On an existing view: ACCESS EXCLUSIVE; on a new one nothing (release_risk knows).
        effect.touch(view, M.ACCESS_EXCLUSIVE)
        effect.does.append(f"creates or replaces view {view}")
    else:
        effect.does.append(f"creates view {view}")
    effect.creates.append(view)
    effect.read(node.query)
    effect.view_reads += [(view, r, False) for r in referenced_relations(node.query)]


def _create_index(node: Any, effect: StatementEffect) -> None:
    table = Relation.from_range_var(node.relation)
    unique = "UNIQUE " if node.unique else ""
    effect.command = f"CREATE {unique}INDEX" + (" CONCURRENTLY" if node.concurrent else "")
    name = node.idxname or "(unnamed)"
    effect.does.append(f"builds {unique.lower()}index {name} on {table}")
    if node.idxname:
        index = Relation(table.schema, node.idxname)
        effect.new_indexes.append((index, table))
    effect.scans.append((table, "read in full to build the index"))
    # On a partitioned table (without ONLY), DefineIndex builds one on each partition too,
    # opening each under the same mode (sql-createindex.html: "the index is created on
    # each of the partitions"); measured by test_lock_modes.py.
    if node.concurrent:
        effect.no_transaction = True
        effect.touch(table, M.SHARE_UPDATE_EXCLUSIVE)
        effect.touch_partitions(table, M.SHARE_UPDATE_EXCLUSIVE, node.relation)
    else:
        effect.touch(table, M.SHARE)
        effect.touch_partitions(table, M.SHARE, node.relation)
        effect.hazards.append(Found("create_index_not_concurrently", table, f"index {name}"))


def _drop(node: Any, effect: StatementEffect) -> None:
    kind = node.removeType
    cascade = node.behavior == "DROP_CASCADE"
    effect.command = "DROP " + kind.removeprefix("OBJECT_").replace("_", " ")
    if node.concurrent:
        effect.command += " CONCURRENTLY"
        effect.no_transaction = True
    for items in node.objects or ():
        if kind in _RELATION_KINDS:
            relation = Relation.from_names(items)
            effect.drops.append(relation)
            effect.touch(relation, M.ACCESS_EXCLUSIVE)
            what = _kind_words(kind)
            effect.does.append(
                f"drops {what} {relation}" + (" and what depends on it" if cascade else "")
            )
            effect.hazards.append(Found("drop_breaks_clients", relation, f"{what} {relation}"))
            if cascade:
                # The views and materialized views built on it go too, each locked ACCESS
                # EXCLUSIVE (findDependentObjects: AcquireDeletionLock on each object it
                # will delete; sql-droptable.html: "CASCADE: Automatically drop objects
                # that depend on the table (such as views)").
                effect.locks.append(LockRequest(relation, M.ACCESS_EXCLUSIVE, ON_DEPENDENT_VIEWS))
            if kind == "OBJECT_TABLE":
                # Its foreign keys' triggers live on the tables they point at.
                effect.locks.append(LockRequest(relation, M.ACCESS_EXCLUSIVE, ON_REFERENCED))
                # Its partitions are dropped with it (DROP has no ONLY), and with CASCADE its
                # INHERITS children (without, the DROP fails); dropping a partition changes
                # its parent and the parent's default partition, both locked
                # (heap_drop_with_catalog: "lock parent too", and its default partition);
                # dropping an INHERITS child leaves its parent unlocked (measured).
                effect.locks.append(LockRequest(relation, M.ACCESS_EXCLUSIVE, ON_INHERITORS))
                effect.locks.append(LockRequest(relation, M.ACCESS_EXCLUSIVE, ON_PARENT))
                if cascade:
                    effect.locks.append(LockRequest(relation, M.ACCESS_EXCLUSIVE, ON_REFERENCING))
                effect.losses.append(data_loss.Loss("table_rows", relation))
        elif kind == "OBJECT_INDEX":
            index = Relation.from_names(items)
            mode = M.SHARE_UPDATE_EXCLUSIVE if node.concurrent else M.ACCESS_EXCLUSIVE
            effect.locks.append(LockRequest(index, mode, ON_INDEX_TABLE))
            effect.does.append(f"drops index {index}")
            if not node.concurrent:
                effect.hazards.append(Found("drop_index_not_concurrently", index, f"index {index}"))
        elif kind in _ON_TABLE_KINDS:
            table = Relation.from_names(items[:-1])
            what = _kind_words(kind)
            effect.touch(table, M.ACCESS_EXCLUSIVE)
            effect.does.append(f"drops {what} {names(items)[-1]} on {table}")
        elif kind == "OBJECT_SCHEMA" and cascade:
            effect.opaque = "DROP SCHEMA ... CASCADE drops whatever the schema holds"
            effect.does.append(f"drops schema {_object_name(items)} and all in it")
        else:
            shown = _object_name(items)
            effect.does.append(f"drops {_kind_words(kind)} {shown}")


def _object_name(item: Any) -> str:
    if isinstance(item, tuple):
        return ".".join(names(item))
    if not isinstance(item, Node):
        return "?"
    if item.tag == "ObjectWithArgs":
        return ".".join(names(item.objname))
    if item.tag == "String":
        return str(item.sval)
    if item.names is not None:  # a TypeName
        return ".".join(names(item.names))
    return "?"


def _truncate(node: Any, effect: StatementEffect) -> None:
    effect.command = "TRUNCATE"
    cascade = node.behavior == "DROP_CASCADE"
    for rv in node.relations:
        table = Relation.from_range_var(rv)
        effect.touch(table, M.ACCESS_EXCLUSIVE)
        # ExecuteTruncate expands the list with find_all_inheritors unless ONLY (which a
        # partitioned table refuses): every partition or INHERITS child is truncated, and
        # locked, too (sql-truncate.html: "If ONLY is not specified, the table and all its
        # descendant tables (if any) are truncated").
        effect.touch_partitions(table, M.ACCESS_EXCLUSIVE, rv, ON_INHERITORS)
        effect.does.append(f"removes every row of {table}")
        effect.hazards.append(Found("truncate", table))
        effect.losses.append(data_loss.Loss("table_rows", table))
        if cascade:
            # ExecuteTruncate follows foreign keys until no new table turns up
            # (heap_truncate_find_FKs in a loop): the tables pointing at those too.
            effect.locks.append(LockRequest(table, M.ACCESS_EXCLUSIVE, ON_REFERENCING_ALL))
            effect.does.append(f"and of every table whose foreign keys point at {table}")


def _create_policy(node: Any, effect: StatementEffect) -> None:
    table = effect.change("CREATE POLICY", node, node.table, M.ACCESS_EXCLUSIVE)
    effect.does.append(
        f"creates policy {node.policy_name!r} on {table} for {node.cmd_name or 'all'}"
    )


def _alter_policy(node: Any, effect: StatementEffect) -> None:
    table = effect.change("ALTER POLICY", node, node.table, M.ACCESS_EXCLUSIVE)
    effect.does.append(f"changes policy {node.policy_name!r} on {table}")


def _create_trigger(node: Any, effect: StatementEffect) -> None:
    table = Relation.from_range_var(node.relation)
    effect.command = "CREATE TRIGGER"
    effect.touch(table, M.SHARE_ROW_EXCLUSIVE)
    if node.row:
        # A row trigger on a partitioned table is cloned onto each partition (CreateTrigger).
        effect.touch_partitions(table, M.SHARE_ROW_EXCLUSIVE, node.relation)
    effect.does.append(f"creates trigger {node.trigname} on {table}")


def _create_rule(node: Any, effect: StatementEffect) -> None:
    table = Relation.from_range_var(node.relation)
    effect.command = "CREATE RULE"
    effect.touch(table, M.ACCESS_EXCLUSIVE)
    effect.does.append(f"creates rule {node.rulename} on {table}")


def _comment(node: Any, effect: StatementEffect) -> None:
    effect.command = "COMMENT"
    kind = node.objtype
    if kind in _RELATION_KINDS:
        relation = Relation.from_names(node.object)
        effect.touch(relation, M.SHARE_UPDATE_EXCLUSIVE)
        effect.does.append(f"sets the comment on {relation}")
    elif kind == "OBJECT_COLUMN":
        relation = Relation.from_names(node.object[:-1])
        effect.touch(relation, M.SHARE_UPDATE_EXCLUSIVE)
        effect.does.append(f"sets the comment on column {names(node.object)[-1]} of {relation}")
    elif kind == "OBJECT_INDEX":
        index = Relation.from_names(node.object)
        effect.does.append(f"sets the comment on index {index}")
    elif kind in _COMMENTED_ON_TABLE:
        relation = Relation.from_names(node.object[:-1])
        effect.touch(relation, M.ACCESS_SHARE)
        what = _kind_words(kind).replace("tabconstraint", "constraint")
        effect.does.append(f"sets the comment on {what} {names(node.object)[-1]} of {relation}")
    else:
        effect.does.append(f"sets the comment on a {_kind_words(kind)}")


def _rename(node: Any, effect: StatementEffect) -> None:
    effect.command = "RENAME"
    kind = node.renameType
    if kind in _RELATION_KINDS:
        old = Relation.from_range_var(node.relation)
        new = Relation(old.schema, node.newname)
        effect.touch(old, M.ACCESS_EXCLUSIVE)
        effect.renames.append((old, new))
        effect.does.append(f"renames {old} to {node.newname}")
        effect.hazards.append(Found("rename_breaks_clients", old, f"{old} becomes {new}"))
    elif kind in ("OBJECT_COLUMN", "OBJECT_ATTRIBUTE") and node.relation is not None:
        table = Relation.from_range_var(node.relation)
        effect.touch(table, M.ACCESS_EXCLUSIVE)
        # renameatt recurses to the partitions and INHERITS children (find_all_inheritors)
        # unless ONLY.
        effect.touch_partitions(table, M.ACCESS_EXCLUSIVE, node.relation, ON_INHERITORS)
        effect.column_renames.append((table, node.subname, node.newname))
        effect.does.append(f"renames column {node.subname} of {table} to {node.newname}")
        effect.hazards.append(
            Found("rename_breaks_clients", table, f"column {node.subname} becomes {node.newname}")
        )
    elif kind == "OBJECT_TABCONSTRAINT" and node.relation is not None:
        table = Relation.from_range_var(node.relation)
        effect.touch(table, M.ACCESS_EXCLUSIVE)
        effect.does.append(f"renames constraint {node.subname} of {table}")
        effect.constraint_renames.append((table, node.subname, node.newname))
    elif kind == "OBJECT_INDEX" and node.relation is not None:
        index = Relation.from_range_var(node.relation)
        effect.does.append(f"renames index {index} to {node.newname}")
    elif kind in _ON_TABLE_KINDS and node.relation is not None:
        table = Relation.from_range_var(node.relation)
        effect.touch(table, M.ACCESS_EXCLUSIVE)
        effect.does.append(f"renames {_kind_words(kind)} on {table}")
    else:
        what = _kind_words(kind)
        effect.does.append(f"renames {what} {_object_name(node.object)} to {node.newname}")
        if kind in ("OBJECT_FUNCTION", "OBJECT_TYPE", "OBJECT_SCHEMA"):
            effect.hazards.append(Found("rename_breaks_clients", None, f"{what} renamed"))


def _transaction(node: Any, effect: StatementEffect) -> None:
    kind = str(node.json.get("kind", ""))  # TRANS_STMT_BEGIN...
    effect.command = kind.removeprefix("TRANS_STMT_").replace("_", " ")
    if kind in ("TRANS_STMT_BEGIN", "TRANS_STMT_START"):
        effect.transaction = "begin"
    elif kind == "TRANS_STMT_COMMIT":
        effect.transaction = "commit"
    elif kind == "TRANS_STMT_ROLLBACK":
        effect.transaction = "rollback"
    effect.does.append(effect.command.lower())


def _set(node: Any, effect: StatementEffect) -> None:
    effect.command = "SET"
    kind = node.json.get("kind")
    if kind == "VAR_SET_VALUE" and node.name:
        values = []
        for arg in node.args or ():
            if arg.tag == "A_Const":
                for field in ("sval", "ival", "fval", "boolval"):
                    if arg.json.get(field) is not None:
                        value = arg.json[field].get(field)
                        values.append(str(value if value is not None else 0))
        effect.settings[node.name] = ", ".join(values)
        effect.does.append(f"sets {node.name} = {', '.join(values)}")
    elif kind == "VAR_RESET" and node.name:
        effect.settings[node.name] = ""
        effect.does.append(f"resets {node.name}")
    else:
        effect.does.append("changes session settings")


def _do(node: Any, effect: StatementEffect) -> None:
    effect.command = "DO"
    effect.opaque = "a DO block runs procedural code: what it touches is not in the text"
    effect.does.append("runs a DO block")


def _call(node: Any, effect: StatementEffect) -> None:
    effect.command = "CALL"
    name = ".".join(names(node.funccall.funcname))
    effect.opaque = f"CALL {name}: what a procedure does is not in the statement's text"
    effect.does.append(f"calls procedure {name}")


def _create_function(node: Any, effect: StatementEffect) -> None:
    name = ".".join(names(node.funcname))
    effect.command = "CREATE PROCEDURE" if node.is_procedure else "CREATE FUNCTION"
    effect.does.append(("creates or replaces " if node.replace else "creates ") + name)
    language = ""
    body: tuple[str, ...] = ()
    for option in node.options or ():
        if option.defname == "language":
            language = option.arg.sval
        elif option.defname == "as":
            body = tuple(names(option.arg))
    if node.sql_body is not None:
        effect.read(node.sql_body)
    elif language == "sql" and len(body) == 1:
        # PostgreSQL checks a SQL function's body when it is created (check_function_bodies),
        # which reads the tables it names.
        with contextlib.suppress(ParseError):
            effect.read([p.node for p in parse(body[0])])


def _alter_table(node: Any, effect: StatementEffect) -> None:
    alter_table_effects.analyse(node, effect)


def _grant(node: Any, effect: StatementEffect) -> None:
    effect.command = "GRANT" if node.is_grant else "REVOKE"
    privileges = ", ".join(str(p.priv_name).upper() for p in node.privileges or ()) or "ALL"
    target = _kind_words(str(node.objtype))
    objects = ", ".join(
        str(Relation.from_range_var(o)) if o.tag == "RangeVar" else _object_name(o)
        for o in node.objects or ()
    )
    roles = ", ".join(getattr(r, "rolename", None) or "PUBLIC" for r in node.grantees or ())
    verb = "grants" if node.is_grant else "revokes"
    effect.does.append(
        f"{verb} {privileges} on {target} {objects} {'to' if node.is_grant else 'from'} {roles}"
    )


def _simple(command: str, text: str) -> Any:
    def handler(node: Node, effect: StatementEffect) -> None:
        effect.command = command
        effect.does.append(text)

    return handler


def _create_schema(node: Any, effect: StatementEffect) -> None:
    effect.command = "CREATE SCHEMA"
    effect.does.append(f"creates schema {node.schemaname}")
    for element in node.schemaElts or ():
        handler = _HANDLERS.get(element.tag)
        if handler is not None:
            handler(element, effect)


def _alter_enum(node: Any, effect: StatementEffect) -> None:
    effect.command = "ALTER TYPE"
    name = ".".join(names(node.typeName))
    if node.newVal and not node.oldVal:
        effect.does.append(f"adds value {node.newVal!r} to enum {name}")
    else:
        effect.does.append(f"changes enum {name}")


_HANDLERS: dict[str, Any] = {
    "CreateStmt": _create_table,
    "CreateTableAsStmt": _create_table_as,
    "ViewStmt": _create_view,
    "IndexStmt": _create_index,
    "DropStmt": _drop,
    "TruncateStmt": _truncate,
    **dml_effects.HANDLERS,
    "CreatePolicyStmt": _create_policy,
    "AlterPolicyStmt": _alter_policy,
    "CreateTrigStmt": _create_trigger,
    "RuleStmt": _create_rule,
    "CommentStmt": _comment,
    "RenameStmt": _rename,
    **maintenance_effects.HANDLERS,
    **catalog_effects.HANDLERS,
    "TransactionStmt": _transaction,
    "VariableSetStmt": _set,
    "DoStmt": _do,
    "CallStmt": _call,
    "CreateFunctionStmt": _create_function,
    "AlterTableStmt": _alter_table,
    "GrantStmt": _grant,
    "CreateSchemaStmt": _create_schema,
    "AlterEnumStmt": _alter_enum,
    "CreateEnumStmt": _simple("CREATE TYPE", "creates an enum type"),
    "CreateExtensionStmt": _simple("CREATE EXTENSION", "creates an extension"),
    "CreateSeqStmt": _simple("CREATE SEQUENCE", "creates a sequence"),
    "CreateRoleStmt": _simple("CREATE ROLE", "creates a role"),
    "GrantRoleStmt": _simple("GRANT ROLE", "grants role membership"),
    "AlterDefaultPrivilegesStmt": _simple(
        "ALTER DEFAULT PRIVILEGES", "changes the privileges future objects get"
    ),
}
