"""What ``ALTER TABLE`` does, subcommand by subcommand (part of ``statement_effects``).

The lock modes are PostgreSQL's ``AlterTableGetLockLevel`` (``tablecmds.c``, 15 to 18):
the statement takes the strongest mode among its subcommands. Foreign keys also lock the
table they point at, where their triggers live (``tablecmds.c``, PostgreSQL 15):

- ``ADD FOREIGN KEY``: SHARE ROW EXCLUSIVE (``ATAddForeignKeyConstraint`` opens the
  referenced table with ``ShareRowExclusiveLock``; validating it adds ROW SHARE);
- ``VALIDATE CONSTRAINT`` of a foreign key: ROW SHARE (phase 3 of ``ATRewriteTables``:
  ``refrel = table_open(con->refrelid, RowShareLock)`` before
  ``validateForeignKeyConstraint``; sql-altertable.html: "If the constraint is a foreign
  key then a ROW SHARE lock is also required on the table referenced by the constraint");
- ``DROP CONSTRAINT`` of a foreign key: ACCESS EXCLUSIVE (``ATExecDropConstraint``: "Must
  match lock taken by RemoveTriggerById", unless it references its own table).

Which table a named constraint references is not in the text: the lock is a
``LockRequest`` ``ON_CONSTRAINT_TARGET`` that ``release_risk`` settles from the target's
foreign keys and the ones the release's earlier statements add.

On a partitioned table most subcommands recurse to every partition (and theirs), each
under the same mode, unless the statement says ``ONLY`` (``_RECURSES``); a
``LockRequest`` ``ON_PARTITIONS`` that ``release_risk`` settles from the target's
partitions and the ones the release adds. Those that also recurse to an ordinary table's
plain INHERITS children (``_INHERITED``) are ``ON_INHERITORS``.
"""

from __future__ import annotations

from typing import Any

from migrations_ops.pg import data_loss, partition_pruning
from migrations_ops.pg.effect_model import (
    ON_CHECK_CHILDREN,
    ON_CHECK_INHERITORS,
    ON_CONSTRAINT_TARGET,
    ON_DEFAULT_PARTITION,
    ON_DEPENDENT_VIEWS,
    ON_FOREIGN_KEY_OTHER_END,
    ON_INHERITORS,
    ON_PARTITIONS,
    ON_REFERENCED,
    ColumnAdd,
    ConstraintAdd,
    Found,
    LockRequest,
    StatementEffect,
    TypeChange,
)
from migrations_ops.pg.locks import LockMode
from migrations_ops.pg.sql_names import Node, Relation, TypeSpec, function_names, names

M = LockMode

_SHARE_UPDATE_EXCLUSIVE = {
    "AT_SetStatistics",
    "AT_SetOptions",
    "AT_ResetOptions",
    "AT_ClusterOn",
    "AT_DropCluster",
    "AT_ValidateConstraint",
    "AT_AttachPartition",
    "AT_DetachPartitionFinalize",
}
_SHARE_ROW_EXCLUSIVE = {
    "AT_EnableTrig",
    "AT_EnableAlwaysTrig",
    "AT_EnableReplicaTrig",
    "AT_DisableTrig",
    "AT_EnableTrigAll",
    "AT_DisableTrigAll",
    "AT_EnableTrigUser",
    "AT_DisableTrigUser",
}
# Storage parameters PostgreSQL changes under SHARE UPDATE EXCLUSIVE (reloptions.c:
# every option whose lockmode is ShareUpdateExclusiveLock); any other takes ACCESS EXCLUSIVE.
_LIGHT_RELOPTIONS = {
    "fillfactor",
    "autovacuum_enabled",
    "parallel_workers",
    "toast_tuple_target",
    "vacuum_index_cleanup",
    "vacuum_truncate",
    "log_autovacuum_min_duration",
    "user_catalog_table",
}
_REWRITES = {
    "AT_SetLogged": "SET LOGGED writes a new copy of the table",
    "AT_SetUnLogged": "SET UNLOGGED writes a new copy of the table",
    "AT_SetTableSpace": "SET TABLESPACE copies the table to the new tablespace",
    "AT_SetAccessMethod": "SET ACCESS METHOD writes a new copy of the table",
}
_DOES = {
    "AT_EnableRowSecurity": "enables row level security on {t}",
    "AT_DisableRowSecurity": "disables row level security on {t}",
    "AT_ForceRowSecurity": "forces row level security on {t} (for its owner too)",
    "AT_NoForceRowSecurity": "stops forcing row level security on {t}",
    "AT_ChangeOwner": "changes the owner of {t}",
    "AT_ReplicaIdentity": "changes the replica identity of {t}",
    "AT_DropNotNull": "drops NOT NULL on column {c} of {t}",
    "AT_ColumnDefault": "changes the default of column {c} of {t}",
    "AT_SetStatistics": "sets the statistics target of column {c} of {t}",
}


def _reloptions_mode(cmd: Any) -> LockMode:
    names = {str(d.defname).removeprefix("toast.") for d in cmd.def_ or () if d.tag == "DefElem"}
    light = all(n in _LIGHT_RELOPTIONS or n.startswith("autovacuum_") for n in names)
    return M.SHARE_UPDATE_EXCLUSIVE if light else M.ACCESS_EXCLUSIVE


def analyse(node: Any, effect: StatementEffect) -> None:
    table = Relation.from_range_var(node.relation)
    objtype = str(node.objtype)
    what = objtype.removeprefix("OBJECT_").replace("MATVIEW", "MATERIALIZED VIEW")
    effect.command = f"ALTER {what.replace('_', ' ')}"
    if objtype in ("OBJECT_INDEX", "OBJECT_SEQUENCE"):
        effect.does.append(f"changes {what.lower()} {table}")
        return
    modes = [_subcommand(cmd, table, effect) for cmd in node.cmds]
    effect.touch(table, max(modes) if modes else M.ACCESS_EXCLUSIVE)
    for cmd, mode in zip(node.cmds, modes, strict=True):
        recursion = _partitions_mode(cmd, mode)
        if recursion is not None:
            on_partitions, on = recursion
            validated = cmd.name if str(cmd.subtype) == "AT_ValidateConstraint" else None
            effect.touch_partitions(table, on_partitions, node.relation, on, validated)
        _constraint_copies(cmd, mode, table, node.relation, effect)


def _constraint_copies(
    cmd: Any, mode: LockMode, table: Relation, range_var: Any, effect: StatementEffect
) -> None:
    """What DROP and VALIDATE CONSTRAINT reach besides the table, measured on PostgreSQL 15
    by test_lock_elsewhere.py: every partition for DROP, even with ONLY (a partition's copy of a
    key, unique or foreign key goes with the parent's; ONLY is refused for a CHECK), and the
    plain INHERITS children holding a copy of an inherited CHECK (``ON_CHECK_INHERITORS``;
    with ONLY, DROP reaches the children only: ``ON_CHECK_CHILDREN``). VALIDATE reaches the
    partitions through ``_partitions_mode``; with ONLY it is refused where copies exist."""
    kind = str(cmd.subtype)
    inh = getattr(range_var, "inh", True)
    if kind == "AT_DropConstraint":
        effect.locks.append(LockRequest(table, mode, ON_PARTITIONS))
        on = ON_CHECK_INHERITORS if inh else ON_CHECK_CHILDREN
        effect.locks.append(LockRequest(table, mode, on, constraint=cmd.name))
    elif kind == "AT_ValidateConstraint" and inh:
        effect.locks.append(LockRequest(table, mode, ON_CHECK_INHERITORS, constraint=cmd.name))


# Subcommands that recurse to a partitioned table's partitions, from ``ATPrepCmd``
# (``tablecmds.c``, PostgreSQL 15): ``ATSimpleRecursion`` for the column defaults, NOT NULL,
# statistics, storage and DROP EXPRESSION; "Recursion occurs during execution phase" for
# ADD and DROP COLUMN, ADD, DROP and VALIDATE CONSTRAINT (``AT_AddConstraintRecurse``...);
# ``ATPrepAlterColumnType`` "Performs own recursion"; the trigger switches set
# ``cmd->recurse``. The others say "This command never recurses" (row level security,
# owner, replica identity, storage parameters, SET TABLESPACE, CLUSTER ON, column options,
# identity, compression). Each measured on PostgreSQL 15 by ``test_lock_modes.py``.
# (VALIDATE of a constraint already valid returns before checking it or recursing:
# ATExecValidateConstraint does all its work under "if (!con->convalidated)", so
# release_risk drops those locks when it knows the constraint is valid.)
_RECURSES = {
    "AT_AddColumn", "AT_DropColumn", "AT_ColumnDefault", "AT_SetNotNull", "AT_DropNotNull",
    "AT_SetStatistics", "AT_SetStorage", "AT_DropExpression", "AT_AlterColumnType",
    "AT_AddConstraint", "AT_DropConstraint", "AT_ValidateConstraint", *_SHARE_ROW_EXCLUSIVE,
}  # fmt: skip
# Of those, the ones that recurse to plain INHERITS children too (find_all_inheritors or
# find_inheritance_children in tablecmds.c for any table, not only a partitioned one): the
# column subcommands, and CHECK constraints, which children inherit. Indexes, foreign keys
# and triggers belong to the table alone unless it is partitioned. Measured on PostgreSQL
# 15 by test_lock_elsewhere.py. (DROP and VALIDATE CONSTRAINT reach the children for an
# inherited CHECK only, which the text does not tell: ``_constraint_copies``.)
_INHERITED = _RECURSES - {
    "AT_AddConstraint", "AT_DropConstraint", "AT_ValidateConstraint", *_SHARE_ROW_EXCLUSIVE,
}  # fmt: skip


def _partitions_mode(cmd: Any, mode: LockMode) -> tuple[LockMode, str] | None:
    """The mode a subcommand takes on each partition (and whether on INHERITS children
    too: ``ON_INHERITORS``), None when it does not recurse."""
    kind = str(cmd.subtype)
    if kind not in _RECURSES or kind == "AT_DropConstraint":  # _constraint_copies
        return None
    if kind == "AT_AddConstraint" and cmd.def_.contype in ("CONSTR_UNIQUE", "CONSTR_EXCLUSION"):
        # Each partition gets its own index, built under SHARE (DefineIndex); USING INDEX
        # is refused on a partitioned table. A primary key also sets NOT NULL on each
        # partition: ACCESS EXCLUSIVE, as on the parent.
        return None if cmd.def_.indexname else (M.SHARE, ON_PARTITIONS)
    if kind == "AT_AddConstraint" and cmd.def_.contype == "CONSTR_CHECK":
        # sql-altertable.html: "ADD table_constraint [ NO INHERIT ]"; a NO INHERIT one
        # stays on the table (and a partitioned table refuses it).
        return (mode, ON_PARTITIONS if cmd.def_.is_no_inherit else ON_INHERITORS)
    return (mode, ON_INHERITORS if kind in _INHERITED else ON_PARTITIONS)


def _subcommand(cmd: Any, table: Relation, effect: StatementEffect) -> LockMode:
    kind = str(cmd.subtype)
    if kind == "AT_AddColumn":
        return _add_column(cmd.def_, table, effect)
    if kind == "AT_DropColumn":
        effect.does.append(f"drops column {cmd.name} of {table}")
        effect.hazards.append(_found("drop_breaks_clients", table, f"column {table}.{cmd.name}"))
        effect.losses.append(data_loss.Loss("column_values", table, column=cmd.name))
        # A foreign key the column is in goes with it (on the referenced side, with
        # CASCADE: the key depends on the referenced table's unique index), and dropping it
        # removes its triggers from the table at its other end under ACCESS EXCLUSIVE, as
        # DROP CONSTRAINT does (sql-altertable.html: "Indexes and table constraints involving
        # the column will be automatically dropped as well"); measured on PostgreSQL 15 by
        # test_lock_modes.py.
        effect.locks.append(
            LockRequest(table, M.ACCESS_EXCLUSIVE, ON_FOREIGN_KEY_OTHER_END, column=cmd.name)
        )
        if cmd.behavior == "DROP_CASCADE":
            # The views using the column are dropped with it, under ACCESS EXCLUSIVE
            # (sql-altertable.html: "CASCADE: Automatically drop objects that depend on
            # the dropped column or constraint (for example, views referencing the column)").
            effect.locks.append(
                LockRequest(table, M.ACCESS_EXCLUSIVE, ON_DEPENDENT_VIEWS, column=cmd.name)
            )
        return M.ACCESS_EXCLUSIVE
    if kind == "AT_AlterColumnType":
        column_def = cmd.def_
        new = TypeSpec.from_type_name(column_def.typeName)
        change = TypeChange(table, cmd.name, new, using=column_def.raw_default is not None)
        effect.type_changes.append(change)
        effect.does.append(f"changes the type of column {cmd.name} of {table} to {new}")
        effect.losses.append(
            data_loss.Loss("type_change", table, column=cmd.name, new_type=new, using=change.using)
        )
        # A foreign key the column is in (on either side) is dropped and added again for
        # the new type (ATPostAlterTypeCleanup: RememberConstraintForRebuilding, then
        # performDeletion of the old one and ATPostAlterTypeParse of its definition):
        # dropping it removes its triggers from the table at its other end, under ACCESS
        # EXCLUSIVE as DROP CONSTRAINT does; measured on PostgreSQL 15 by test_lock_modes.py.
        effect.locks.append(
            LockRequest(table, M.ACCESS_EXCLUSIVE, ON_FOREIGN_KEY_OTHER_END, column=cmd.name)
        )
        return M.ACCESS_EXCLUSIVE
    if kind == "AT_SetNotNull":
        effect.not_null_sets.append((table, cmd.name))
        effect.does.append(f"sets NOT NULL on column {cmd.name} of {table}")
        return M.ACCESS_EXCLUSIVE
    if kind == "AT_AddConstraint":
        return _add_constraint(cmd.def_, table, effect)
    if kind == "AT_ValidateConstraint":
        effect.does.append(f"validates constraint {cmd.name} on {table}")
        effect.constraint_validations.append((table, cmd.name))
        effect.scans.append((table, f"VALIDATE CONSTRAINT {cmd.name} reads every row"))
        effect.locks.append(
            LockRequest(table, M.ROW_SHARE, ON_CONSTRAINT_TARGET, constraint=cmd.name)
        )
        return M.SHARE_UPDATE_EXCLUSIVE
    if kind == "AT_DropConstraint":
        effect.does.append(f"drops constraint {cmd.name} of {table}")
        effect.locks.append(
            LockRequest(table, M.ACCESS_EXCLUSIVE, ON_CONSTRAINT_TARGET, constraint=cmd.name)
        )
        effect.constraint_drops.append((table, cmd.name))
        return M.ACCESS_EXCLUSIVE
    if kind in ("AT_AttachPartition", "AT_DetachPartition"):
        partition = Relation.from_range_var(cmd.def_.name)
        concurrent = bool(getattr(cmd.def_, "concurrent", False))
        if not concurrent:
            partition_locks(effect, table)
            # A partitioned table attached or detached: its partitions, and theirs, too
            # (find_all_inheritors in ATExecAttachPartition and DetachPartitionFinalize).
            effect.locks.append(LockRequest(partition, M.ACCESS_EXCLUSIVE, ON_INHERITORS))
        if kind == "AT_AttachPartition":
            effect.partition_adds.append((partition, table))
            if cmd.def_.bound is not None and cmd.def_.bound.is_default:
                effect.default_partition_adds.append(partition)
            bound = partition_pruning.bound_from_spec(cmd.def_.bound)
            if bound is not None:
                effect.partition_bounds_added.append((partition, bound))
            effect.touch(partition, M.ACCESS_EXCLUSIVE)
            effect.scans.append((partition, "checked against the partition bound"))
            effect.does.append(f"attaches {partition} as a partition of {table}")
            return M.SHARE_UPDATE_EXCLUSIVE
        effect.does.append(f"detaches partition {partition} from {table}")
        effect.partition_drops.append((partition, table))
        if concurrent:
            effect.no_transaction = True
            effect.touch(partition, M.SHARE_UPDATE_EXCLUSIVE)
            return M.SHARE_UPDATE_EXCLUSIVE
        effect.touch(partition, M.ACCESS_EXCLUSIVE)
        return M.ACCESS_EXCLUSIVE
    if kind == "AT_AddInherit":
        effect.touch(Relation.from_range_var(cmd.def_), M.SHARE_UPDATE_EXCLUSIVE)
        # ATExecAddInherit reads the new child's own descendants, under ACCESS SHARE, to
        # refuse a loop.
        effect.locks.append(LockRequest(table, M.ACCESS_SHARE, ON_INHERITORS))
        effect.inherit_adds.append((table, Relation.from_range_var(cmd.def_)))
        effect.does.append(f"makes {table} inherit from {Relation.from_range_var(cmd.def_)}")
        return M.ACCESS_EXCLUSIVE
    if kind == "AT_DropInherit":
        # ATExecDropInherit opens the parent under ACCESS SHARE (measured on PostgreSQL 15).
        effect.touch(Relation.from_range_var(cmd.def_), M.ACCESS_SHARE)
        effect.inherit_drops.append((table, Relation.from_range_var(cmd.def_)))
        effect.does.append(f"stops {table} inheriting from {Relation.from_range_var(cmd.def_)}")
        return M.ACCESS_EXCLUSIVE
    if kind in _REWRITES:
        effect.rewrites.append((table, _REWRITES[kind]))
        effect.does.append(_REWRITES[kind].replace("the table", str(table)))
        return M.ACCESS_EXCLUSIVE
    if kind in ("AT_SetRelOptions", "AT_ResetRelOptions"):
        effect.does.append(f"changes storage parameters of {table}")
        return _reloptions_mode(cmd)
    if kind in _SHARE_ROW_EXCLUSIVE:
        verb = "enables" if "Enable" in kind else "disables"
        effect.does.append(f"{verb} trigger {cmd.name or '(all)'} on {table}")
        return M.SHARE_ROW_EXCLUSIVE
    template = _DOES.get(kind)
    if template:
        effect.does.append(template.format(t=table, c=cmd.name))
    else:
        effect.does.append(f"{kind.removeprefix('AT_')} on {table}")
    if kind in _SHARE_UPDATE_EXCLUSIVE:
        return M.SHARE_UPDATE_EXCLUSIVE
    return M.ACCESS_EXCLUSIVE


def _found(code: str, table: Relation | None, detail: str = "") -> Found:
    return Found(code, table, detail)


def _add_column(column: Any, table: Relation, effect: StatementEffect) -> LockMode:
    spec = TypeSpec.from_type_name(column.typeName)
    written = names(column.typeName.names)[-1].lower()
    not_null = False
    default: Node | None = None
    always: str | None = None
    if written in ("serial", "serial4", "bigserial", "serial8", "smallserial", "serial2"):
        always = f"a {written} column fills every existing row from its sequence"
        not_null = True
    for constraint in column.constraints or ():
        contype = str(constraint.contype)
        if contype in ("CONSTR_NOTNULL", "CONSTR_PRIMARY"):
            not_null = True
        if contype == "CONSTR_DEFAULT":
            default = constraint.raw_expr
        elif contype == "CONSTR_IDENTITY":
            always = "an identity column fills every existing row from its sequence"
        elif contype == "CONSTR_GENERATED" and constraint.generated_kind != "v":
            always = "a stored generated column is computed for every existing row"
        elif contype in ("CONSTR_PRIMARY", "CONSTR_UNIQUE"):
            effect.scans.append((table, f"index built for {column.colname}"))
            effect.hazards.append(
                _found("add_constraint_builds_index", table, f"column {column.colname}")
            )
        elif contype == "CONSTR_CHECK" and (default is not None or always):
            effect.scans.append((table, f"CHECK on {column.colname} is tested on every row"))
        elif contype == "CONSTR_FOREIGN" and constraint.pktable is not None:
            effect.touch(Relation.from_range_var(constraint.pktable), M.SHARE_ROW_EXCLUSIVE)
        constraint_added(effect, table, constraint, column.colname)
    functions = tuple(function_names(default)) if default is not None else ()
    effect.column_adds.append(
        ColumnAdd(
            relation=table,
            column=column.colname,
            type=spec,
            not_null=not_null,
            has_default=default is not None or always is not None,
            default_functions=functions,
            rewrites_always=always,
        )
    )
    shown = f"adds column {column.colname} ({spec}"
    shown += ", NOT NULL" if not_null else ""
    shown += ", with a default" if default is not None else ""
    effect.does.append(shown + f") to {table}")
    return M.ACCESS_EXCLUSIVE


def _add_constraint(constraint: Any, table: Relation, effect: StatementEffect) -> LockMode:
    contype = str(constraint.contype)
    name = constraint.conname or "(unnamed)"
    not_valid = bool(constraint.skip_validation)
    constraint_added(effect, table, constraint)
    if contype == "CONSTR_FOREIGN":
        target = Relation.from_range_var(constraint.pktable)
        effect.touch(target, M.SHARE_ROW_EXCLUSIVE)
        effect.does.append(
            f"adds foreign key {name} from {table} to {target}"
            + (" NOT VALID" if not_valid else "")
        )
        if not not_valid:
            effect.scans.append((table, f"every row is checked against {target}"))
            effect.hazards.append(
                _found("add_constraint_without_not_valid", table, f"foreign key {name}")
            )
        return M.SHARE_ROW_EXCLUSIVE
    if contype == "CONSTR_CHECK":
        effect.does.append(f"adds check {name} on {table}" + (" NOT VALID" if not_valid else ""))
        if not not_valid:
            effect.scans.append((table, f"every row is checked against {name}"))
            effect.hazards.append(
                _found("add_constraint_without_not_valid", table, f"check {name}")
            )
        return M.ACCESS_EXCLUSIVE
    if contype in ("CONSTR_PRIMARY", "CONSTR_UNIQUE", "CONSTR_EXCLUSION"):
        label = {"CONSTR_PRIMARY": "primary key", "CONSTR_UNIQUE": "unique constraint"}.get(
            contype, "exclusion constraint"
        )
        if constraint.indexname:
            effect.does.append(f"adds {label} {name} on {table} using index {constraint.indexname}")
        else:
            effect.does.append(f"adds {label} {name} on {table}, building its index")
            effect.scans.append((table, f"index built for {label} {name}"))
            effect.hazards.append(_found("add_constraint_builds_index", table, f"{label} {name}"))
        return M.ACCESS_EXCLUSIVE
    if contype == "CONSTR_NOTNULL":
        for key in constraint.keys or ():
            effect.not_null_sets.append((table, str(key.sval)))
        effect.does.append(f"adds NOT NULL constraint {name} on {table}")
        return M.ACCESS_EXCLUSIVE
    effect.does.append(f"adds constraint {name} on {table}")
    return M.ACCESS_EXCLUSIVE


def partition_locks(effect: StatementEffect, parent: Relation) -> None:
    """The other tables a partition added to or taken from ``parent`` locks.

    Its default partition, ACCESS EXCLUSIVE, since its partition constraint changes
    (``ATExecAttachPartition``: "We must lock the default partition if one exists";
    ``ATExecDetachPartition`` and ``DefineRelation`` alike; sql-altertable.html: "in
    addition to the ACCESS EXCLUSIVE locks on the table being attached and on the default
    partition"). And the tables the parent's foreign keys reference, SHARE ROW EXCLUSIVE:
    the partition's copies of those foreign keys are added or made its own
    (``CloneForeignKeyConstraints``, ``DetachPartitionFinalize``); measured on PostgreSQL
    15 by ``test_lock_elsewhere.py``.
    """
    effect.locks.append(LockRequest(parent, M.ACCESS_EXCLUSIVE, ON_DEFAULT_PARTITION))
    effect.locks.append(LockRequest(parent, M.SHARE_ROW_EXCLUSIVE, ON_REFERENCED))


# Constraint kinds that become a pg_constraint row under their name.
_NAMED_KINDS = (
    "CONSTR_CHECK", "CONSTR_PRIMARY", "CONSTR_UNIQUE", "CONSTR_EXCLUSION", "CONSTR_FOREIGN",
    "CONSTR_NOTNULL",
)  # fmt: skip


def constraint_added(
    effect: StatementEffect, table: Relation, constraint: Any, column: str | None = None
) -> None:
    """Record a table or column constraint by its name, for the statements after it.

    An unnamed foreign key gets PostgreSQL's name, ``<table>_<columns>_fkey``
    (``ChooseConstraintName`` with ``ChooseForeignKeyConstraintNameAddition``) when that
    fits in 63 bytes; other unnamed constraints are not recorded (a later statement naming
    one meets it as unknown and says so).
    """
    contype = str(constraint.contype)
    foreign = contype == "CONSTR_FOREIGN" and constraint.pktable is not None
    name = constraint.conname
    if not name and foreign:
        columns = [str(c.sval) for c in constraint.fk_attrs or ()] or ([column] if column else [])
        candidate = "_".join([table.name, *columns, "fkey"])
        name = candidate if columns and len(candidate.encode()) <= 63 else None
    if not name or contype not in _NAMED_KINDS:
        return
    references = Relation.from_range_var(constraint.pktable) if foreign else None
    columns = [str(c.sval) for c in constraint.fk_attrs or ()] or ([column] if column else [])
    referenced = [str(c.sval) for c in constraint.pk_attrs or ()] if foreign else []
    effect.constraint_adds.append(
        ConstraintAdd(
            table,
            str(name),
            references,
            not_valid=bool(constraint.skip_validation),
            columns=tuple(columns),
            referenced_columns=tuple(referenced),
            inherited=contype == "CONSTR_CHECK" and not constraint.is_no_inherit,
        )
    )
