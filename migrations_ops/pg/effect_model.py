"""The data ``statement_effects`` produces: what one statement does, as far as its text tells."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from migrations_ops.pg.data_loss import Loss
from migrations_ops.pg.locks import LockMode
from migrations_ops.pg.partition_pruning import PartitionBound, PartitionKey, RowFilter
from migrations_ops.pg.query_filters import filters
from migrations_ops.pg.sql_names import (
    Relation,
    TypeSpec,
    has_quals,
    json_objects,
    referenced_relations,
)

M = LockMode

# Where a lock lands when the statement does not name the table itself.
ON_TABLE = "table"  # the relation named
ON_INDEX_TABLE = "index_table"  # the table of the index named
ON_REFERENCED = "referenced"  # every table the named table's foreign keys point at
ON_REFERENCING = "referencing"  # every table whose foreign keys point at the named table
ON_REFERENCING_ALL = "referencing_all"  # the same, and those pointing at them, and so on
ON_CONSTRAINT_TARGET = "constraint_target"  # the table the named FK constraint points at
ON_DEFAULT_PARTITION = "default_partition"  # the default partition of the named table
ON_PARTITIONS = "partitions"  # every partition of the named table, and theirs, and so on
# Every partition and plain INHERITS child of the named table, and theirs, and so on
# (find_all_inheritors): what TRUNCATE, LOCK, most of ALTER TABLE and DML recurse to.
ON_INHERITORS = "inheritors"
# The same for a query's rows (DML, SELECT): the INHERITS children all, but only the
# partitions its WHERE does not prune: predicted from the partition keys and bounds when
# the WHERE (``rows``) tells (partition_pruning), else a lock note says "at most".
ON_UNPRUNED_INHERITORS = "unpruned_inheritors"
# Every plain INHERITS child of the named table, and theirs, but no partition (what a
# publication's table list recurses to).
ON_INHERITANCE_CHILDREN = "inheritance_children"
# The partition of the named table each row an INSERT writes goes to: a lock note.
ON_ROW_PARTITION = "row_partition"
ON_PARENT = "parent"  # the partitioned table the named partition is in, and its default one
# Every view and materialized view built on the named relation, and those built on them
# (with ``column``: only those that use that column, and those built on them).
ON_DEPENDENT_VIEWS = "dependent_views"
# What the named materialized view's query reads, and what each plain view there reads.
ON_VIEW_SOURCES = "view_sources"
# The table at the other end of each foreign key the named table's ``column`` is in (the
# key is rebuilt when the column changes type, dropped when the column is).
ON_FOREIGN_KEY_OTHER_END = "foreign_key_other_end"
# The plain INHERITS children of the named table that hold a copy of ``constraint``: every
# descendant for DROP and VALIDATE CONSTRAINT, the children only for ``DROP CONSTRAINT`` on
# ``ONLY`` (it makes their copies their own). Only a CHECK without NO INHERIT is copied to
# them; a constraint of another kind stays on the table (partitions: ``ON_PARTITIONS``).
ON_CHECK_INHERITORS = "check_inheritors"
ON_CHECK_CHILDREN = "check_children"


@dataclass(frozen=True)
class LockRequest:
    relation: Relation
    mode: LockMode
    on: str = ON_TABLE
    # For ON_CONSTRAINT_TARGET; and for what VALIDATE CONSTRAINT recurses to, the
    # constraint it validates (an already valid one is neither checked nor recursed).
    constraint: str | None = None
    column: str | None = None  # for ON_DEPENDENT_VIEWS, ON_FOREIGN_KEY_OTHER_END
    rows: RowFilter | None = None  # for ON_UNPRUNED_INHERITORS: what its WHERE says


@dataclass(frozen=True)
class ConstraintAdd:
    """A constraint the statement adds, for later statements of the release that name it
    (``VALIDATE`` or ``DROP CONSTRAINT`` of a foreign key also lock the table it references)."""

    relation: Relation
    name: str
    references: Relation | None = None  # the table a foreign key points at; None otherwise
    # A foreign key's columns, and those it references (none when it names no columns: the
    # referenced table's primary key).
    columns: tuple[str, ...] = ()
    referenced_columns: tuple[str, ...] = ()
    not_valid: bool = False  # added NOT VALID: a later VALIDATE checks it
    # A CHECK without NO INHERIT: plain INHERITS children hold a copy, which DROP and
    # VALIDATE CONSTRAINT reach too.
    inherited: bool = False


@dataclass(frozen=True)
class Found:
    """A hazard found in the text; ``release_risk`` keeps it if the table is on the target."""

    code: str
    relation: Relation | None
    detail: str = ""


@dataclass(frozen=True)
class TypeChange:
    relation: Relation
    column: str
    new: TypeSpec
    using: bool


@dataclass(frozen=True)
class ColumnAdd:
    relation: Relation
    column: str
    type: TypeSpec
    not_null: bool
    has_default: bool
    default_functions: tuple[str, ...]  # functions the default calls, for volatility
    rewrites_always: str | None  # why it rewrites whatever the functions are (identity...)


@dataclass
class StatementEffect:
    """What one statement does, as far as its text tells."""

    index: int  # 0-based position in its file
    line: int  # 1-based line where the statement (not a comment before it) starts
    text: str
    command: str = ""  # "ALTER TABLE", "CREATE INDEX"...
    does: list[str] = field(default_factory=list)
    # An INSERT ... SELECT inserts rows only if its query returns some (VALUES and DEFAULT
    # VALUES always do): what only a row does (its partition check) is then a lock note.
    inserts_maybe_none: bool = False
    parse_error: str | None = None
    relations: list[Relation] = field(default_factory=list)  # tables and views touched
    locks: list[LockRequest] = field(default_factory=list)
    creates: list[Relation] = field(default_factory=list)
    drops: list[Relation] = field(default_factory=list)
    renames: list[tuple[Relation, Relation]] = field(default_factory=list)
    new_indexes: list[tuple[Relation, Relation]] = field(default_factory=list)  # (index, table)
    constraint_adds: list[ConstraintAdd] = field(default_factory=list)
    constraint_drops: list[tuple[Relation, str]] = field(default_factory=list)  # (table, name)
    constraint_renames: list[tuple[Relation, str, str]] = field(default_factory=list)
    constraint_validations: list[tuple[Relation, str]] = field(default_factory=list)
    column_renames: list[tuple[Relation, str, str]] = field(default_factory=list)
    partition_adds: list[tuple[Relation, Relation]] = field(default_factory=list)  # (part, of)
    partition_drops: list[tuple[Relation, Relation]] = field(default_factory=list)  # detached
    default_partition_adds: list[Relation] = field(default_factory=list)  # those added DEFAULT
    # The key of each partitioned table the statement creates, the bound of each partition
    # it creates or attaches: plan-time pruning on them in the release's later statements.
    partition_keys_added: list[tuple[Relation, PartitionKey]] = field(default_factory=list)
    partition_bounds_added: list[tuple[Relation, PartitionBound]] = field(default_factory=list)
    inherit_adds: list[tuple[Relation, Relation]] = field(default_factory=list)  # (child, of)
    inherit_drops: list[tuple[Relation, Relation]] = field(default_factory=list)  # NO INHERIT
    # (view, a relation its query reads, whether the view is a materialized one)
    view_reads: list[tuple[Relation, Relation, bool]] = field(default_factory=list)
    rewrites: list[tuple[Relation, str]] = field(default_factory=list)
    scans: list[tuple[Relation, str]] = field(default_factory=list)
    type_changes: list[TypeChange] = field(default_factory=list)
    column_adds: list[ColumnAdd] = field(default_factory=list)
    not_null_sets: list[tuple[Relation, str]] = field(default_factory=list)
    hazards: list[Found] = field(default_factory=list)
    losses: list[Loss] = field(default_factory=list)
    # Locks the text cannot settle, in words (release_risk adds those the catalog cannot).
    lock_notes: list[str] = field(default_factory=list)
    # Effects the text cannot tell (a DO block, a function call): the scratch copy can.
    opaque: str | None = None
    transaction: str | None = None  # "begin", "commit", "rollback" for transaction control
    settings: dict[str, str] = field(default_factory=dict)  # SET name = value
    no_transaction: bool = False  # cannot run inside a transaction block

    @property
    def parsed(self) -> bool:
        return self.parse_error is None

    def touch(self, relation: Relation, mode: LockMode | None = None, on: str = ON_TABLE) -> None:
        if on == ON_TABLE and relation not in self.relations:
            self.relations.append(relation)
        if mode is not None:
            self.locks.append(LockRequest(relation, mode, on))

    def touch_partitions(
        self,
        relation: Relation,
        mode: LockMode,
        range_var: Any,
        on: str = ON_PARTITIONS,
        constraint: str | None = None,
    ) -> None:
        """``mode`` on every partition of ``relation`` too (and on theirs; with
        ``ON_INHERITORS``, on its plain INHERITS children too), unless the statement names
        it with ``ONLY``; a table without partitions has none to lock. ``constraint``: the
        one a VALIDATE CONSTRAINT recurses for."""
        if getattr(range_var, "inh", True):
            self.locks.append(LockRequest(relation, mode, on, constraint=constraint))

    def change(self, command: str, node: Any, range_var: Any, mode: LockMode) -> Relation:
        """The statement is ``command`` and changes the relation ``range_var`` names, under
        ``mode``; what else it names it reads. Returns the relation it changes."""
        relation = Relation.from_range_var(range_var)
        self.command = command
        self.touch(relation, mode)
        self.read(node, skip=(range_var,))
        return relation

    def read(self, node: Any, *, skip: tuple[Any, ...] = ()) -> None:
        """Relations a query inside the statement reads take ACCESS SHARE."""
        for relation in referenced_relations(node, skip=skip):
            self.touch(relation, M.ACCESS_SHARE)

    def run(
        self, node: Any, mode: LockMode = M.ACCESS_SHARE, *, skip: tuple[Any, ...] = ()
    ) -> None:
        """The query is planned and run, not only parsed: each relation it reads without
        ``ONLY`` has its partitions and INHERITS children read too, under ``mode``
        (``expand_inherited_rtentry`` locks the children with the parent's mode), or those
        of them its conditions do not prune (``query_filters``: each table's own)."""
        if not has_quals(node):
            for relation in referenced_relations(node, skip=skip, inherited=True):
                self.locks.append(LockRequest(relation, mode, ON_INHERITORS))
            return
        found = filters(node)
        skipped = {id(s.json) for s in skip}
        ctes = {item["ctename"] for item in json_objects(node) if "ctename" in item}
        for item in json_objects(node):
            if "relname" not in item or not item.get("inh") or id(item) in skipped:
                continue
            if not item.get("schemaname") and item["relname"] in ctes:
                continue
            relation = Relation(item.get("schemaname") or None, item["relname"])
            request = LockRequest(relation, mode, ON_UNPRUNED_INHERITORS, rows=found.get(id(item)))
            if request not in self.locks:
                self.locks.append(request)
