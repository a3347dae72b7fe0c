"""Statement effects settled against the target: names, existing tables, implicit locks.

``analyse_files`` parses every pending statement (no database). ``Resolver`` then walks
the files in order, as the CLI applies them, keeping track of which relations exist at
each point: the target's, plus what earlier statements created, minus what they dropped,
under their new names after renames (that catalog, and which tables a statement reaches
without naming them, is ``release_catalog.ReleaseCatalog``). For each statement it
settles:

- unqualified names, through the target's ``search_path`` (or the file's own ``SET
  search_path``; the CLI's ``RESET ALL`` drops it at the next file);
- the locks on relations that **existed before the file** (the ``lock`` of the report),
  including the ones the text does not name: an index's table, the tables a dropped
  table's foreign keys point at, the tables a ``TRUNCATE ... CASCADE`` reaches, the table
  a foreign key named by ``VALIDATE`` or ``DROP CONSTRAINT`` references (known from the
  target's catalog or from the release's earlier statements, across files; when neither
  knows the constraint, ``lock_notes`` says what it would lock if it is a foreign key),
  the partitions of a partitioned table (the target's, and those the release creates,
  attaches and detaches) and a table's plain INHERITS children (likewise; the partitions
  a query's WHERE leaves to plan-time pruning, from the target's partition keys and
  bounds, when the WHERE tells; for an INSERT, and for a WHERE that does not tell,
  ``lock_notes`` says which partitions it may lock, since that depends on the rows and
  the values), the views a
  ``DROP ... CASCADE`` drops and what a ``REFRESH MATERIALIZED VIEW`` reads (the target's
  views, and those the release creates), the table at the other end of a foreign key
  whose column changes type or is dropped;
- rewrites, scans and hazards on tables **on the target** (a table the release itself
  creates has no clients and no rows yet), with the column facts that decide them (the
  old type of a column, an existing ``CHECK (c IS NOT NULL)``, a default's volatility);
- what to count for data loss, on the target's table names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from migrations_ops.pg import data_loss, statement_effects
from migrations_ops.pg.apply import MigrationFile
from migrations_ops.pg.effect_model import (
    ON_CHECK_CHILDREN,
    ON_CHECK_INHERITORS,
    ON_CONSTRAINT_TARGET,
    ON_DEFAULT_PARTITION,
    ON_DEPENDENT_VIEWS,
    ON_FOREIGN_KEY_OTHER_END,
    ON_INDEX_TABLE,
    ON_INHERITANCE_CHILDREN,
    ON_INHERITORS,
    ON_PARENT,
    ON_PARTITIONS,
    ON_REFERENCED,
    ON_REFERENCING,
    ON_REFERENCING_ALL,
    ON_ROW_PARTITION,
    ON_UNPRUNED_INHERITORS,
    ON_VIEW_SOURCES,
    ColumnAdd,
    LockRequest,
    StatementEffect,
    TypeChange,
)
from migrations_ops.pg.hazards import Hazard
from migrations_ops.pg.locks import LockMode
from migrations_ops.pg.release_catalog import ReleaseCatalog
from migrations_ops.pg.sql_names import Relation, TypeSpec
from migrations_ops.pg.target_facts import ColumnFacts, CountRequest

# Defaults PostgreSQL evaluates per row (so ADD COLUMN rewrites), and common ones it
# evaluates once. Other functions are looked up in the target's pg_proc.
VOLATILE = frozenset(
    {
        "random", "clock_timestamp", "timeofday", "gen_random_uuid", "uuid_generate_v1",
        "uuid_generate_v1mc", "uuid_generate_v4", "nextval", "txid_current",
        "gen_random_bytes", "uuidv4", "uuidv7", "random_normal", "setval",
    }
)  # fmt: skip
NOT_VOLATILE = frozenset(
    {
        "now", "statement_timestamp", "transaction_timestamp", "lower", "upper", "to_jsonb",
        "jsonb_build_object", "jsonb_build_array", "json_build_object", "make_interval",
        "current_setting", "coalesce", "array", "to_char",
    }
)  # fmt: skip


@dataclass
class FileStatements:
    migration: MigrationFile
    effects: list[StatementEffect]


def analyse_files(files: Sequence[MigrationFile]) -> list[FileStatements]:
    """Every statement of every file, parsed; in version order, as the CLI applies them."""
    ordered = sorted(files, key=lambda f: f.version)
    return [
        FileStatements(m, [statement_effects.analyse(s) for s in m.statements]) for m in ordered
    ]


def touched_names(files: Sequence[FileStatements], search_path: Sequence[str]) -> list[str]:
    """Every qualified name a statement may mean (an unqualified one in each path schema)."""
    names: list[str] = []
    for item in files:
        for effect in item.effects:
            relations = list(effect.relations) + [lock.relation for lock in effect.locks]
            relations += [loss.relation for loss in effect.losses]
            for relation in relations:
                options = [relation.schema] if relation.schema else list(search_path)
                for schema in options:
                    name = f"{schema}.{relation.name}"
                    if name not in names:
                        names.append(name)
    return names


def default_functions(files: Sequence[FileStatements]) -> list[str]:
    """Functions that new columns' defaults call: their volatility decides a rewrite."""
    return sorted(
        {
            f
            for item in files
            for e in item.effects
            for a in e.column_adds
            for f in a.default_functions
        }
    )


def type_change_rewrites(old: TypeSpec | None, new: TypeSpec, using: bool) -> tuple[bool, str]:
    """Whether ``old`` -> ``new`` rewrites the table (``ATColumnChangeRequiresRewrite``)."""
    if old is None:
        return True, "the column's current type is unknown: assumed to rewrite"
    if using:
        return True, f"{old} to {new} with USING: every row is converted"
    if old.array != new.array:
        return True, f"{old} to {new}: every row is converted"
    if old.name == new.name and old.modifiers == new.modifiers:
        return False, "same type"
    longer = not new.modifiers or (old.modifiers and new.modifiers[0] >= old.modifiers[0])
    if old.name == "varchar" and new.name == "varchar" and longer:
        return False, f"{old} to {new}: a longer limit needs no rewrite"
    if old.name in ("varchar", "text") and new.name == "text":
        return False, f"{old} to {new}: binary compatible, no rewrite"
    if old.name == "text" and new.name == "varchar" and not new.modifiers:
        return False, f"{old} to {new}: binary compatible, no rewrite"
    if old.name == "numeric" and new.name == "numeric":
        if not new.modifiers:
            return False, f"{old} to {new}: no rewrite"
        if old.modifiers and len(new.modifiers) >= 1:
            old_scale = old.modifiers[1] if len(old.modifiers) > 1 else 0
            new_scale = new.modifiers[1] if len(new.modifiers) > 1 else 0
            if new_scale == old_scale and new.modifiers[0] >= old.modifiers[0]:
                return False, f"{old} to {new}: a larger precision needs no rewrite"
    return True, f"{old} to {new}: every row is converted and the indexes rebuilt"


@dataclass
class Resolved:
    """One statement, settled against the target."""

    file: str
    effect: StatementEffect
    tables: list[str] = field(default_factory=list)
    locks: dict[str, LockMode] = field(default_factory=dict)  # relations from before the file
    lock_why: dict[str, str] = field(default_factory=dict)  # a locked table the text does not name
    lock_notes: list[str] = field(default_factory=list)  # locks the facts cannot settle
    on_target: list[str] = field(default_factory=list)  # its tables that the target has
    rewrites: dict[str, str] = field(default_factory=dict)
    scans: dict[str, str] = field(default_factory=dict)
    hazards: list[Hazard] = field(default_factory=list)
    counts: list[CountRequest] = field(default_factory=list)
    losses_elsewhere: list[str] = field(default_factory=list)  # on tables the release creates

    @property
    def lock(self) -> LockMode | None:
        return max(self.locks.values()) if self.locks else None


class Resolver(ReleaseCatalog):
    """Walks the files in order, tracking which relations exist; see the module docstring."""

    def resolve(self, files: Sequence[FileStatements]) -> list[Resolved]:
        out: list[Resolved] = []
        for item in files:
            out += self._file(item)
        return out

    def _lock_targets(self, request: LockRequest, path: Sequence[str]) -> list[str]:
        if request.on == ON_INDEX_TABLE:
            index = self.qualify(request.relation, path, set(self.indexes))
            table = self.indexes.get(index)
            return [table] if table else []
        table = self.qualify(request.relation, path)
        if request.on == ON_REFERENCED:
            return sorted({t for (s, _), t in self.constraints.items() if s == table and t})
        if request.on == ON_REFERENCING:
            return sorted({s for (s, _), t in self.constraints.items() if t == table})
        if request.on == ON_REFERENCING_ALL:
            reached, todo = {table}, [table]
            while todo:
                pointed_at = todo.pop()
                for (source, _), target in self.constraints.items():
                    if target == pointed_at and source not in reached:
                        reached.add(source)
                        todo.append(source)
            return sorted(reached - {table})
        if request.on == ON_CONSTRAINT_TARGET:
            found = self.constraints.get((table, request.constraint or ""))
            return [found] if found else []
        if request.on in (ON_CHECK_INHERITORS, ON_CHECK_CHILDREN):
            children_only = request.on == ON_CHECK_CHILDREN
            copies = self.check_copies(table, request.constraint or "", children_only=children_only)
            return sorted(copies)
        if request.on == ON_DEFAULT_PARTITION:
            default = self.default_partition.get(table)
            return [default] if default else []
        if request.on in (ON_PARTITIONS, ON_INHERITORS):
            return sorted(self.partitions(table, inheritance=request.on == ON_INHERITORS))
        if request.on == ON_INHERITANCE_CHILDREN:
            return sorted(self.partitions(table, inheritance=True) - self.partitions(table))
        if request.on == ON_UNPRUNED_INHERITORS:  # unsettled partitions: _unsettled_partitions
            children = self.partitions(table, inheritance=True) - self.partitions(table)
            return sorted(children | (self.unpruned(table, request.rows, path) or set()))
        if request.on == ON_ROW_PARTITION:  # _unsettled_partitions
            return []
        if request.on == ON_FOREIGN_KEY_OTHER_END:
            return sorted(self.foreign_key_other_ends(table, request.column or ""))
        if request.on == ON_DEPENDENT_VIEWS:
            return sorted(self.dependent_views(table, request.column))
        if request.on == ON_VIEW_SOURCES:
            return sorted(self.view_sources(table))
        if request.on == ON_PARENT:
            parent = self.partition_of.get(table)
            default = self.default_partition.get(parent or "")
            return [parent, *([default] if default and default != table else [])] if parent else []
        return [table]

    def _lock_why(
        self, effect: StatementEffect, request: LockRequest, path: Sequence[str], table: str
    ) -> str:
        """Why a lock lands on ``table``, which the statement does not name, in words."""
        named = self.qualify(request.relation, path)
        if request.on == ON_FOREIGN_KEY_OTHER_END:
            name = self.foreign_key_other_ends(named, request.column or "").get(table)
            column = f"{named}.{request.column}"
            end = f"at the other end of foreign key {name}"
            if any(change.column == request.column for change in effect.type_changes):
                return f"{end}, rebuilt for the new type of {column}"
            return f"{end}, dropped with column {column}"
        if request.on == ON_DEPENDENT_VIEWS:
            built_on = self.dependent_views(named, request.column).get(table, named)
            kind = self.view_words(table)
            if built_on != named:
                return f"a {kind} built on {built_on}, which depends on {named}: dropped too"
            uses = f" (column {request.column})" if request.column else ""
            return f"a {kind} that depends on {named}{uses}: dropped too"
        if request.on == ON_VIEW_SOURCES:
            reader = self.view_sources(named).get(table, named)
            if reader != named:
                return f"read through the view {reader}, which {named} reads"
            return f"{named} reads it"
        if request.on == ON_PARENT:
            parent = self.partition_of.get(named)
            if table != parent:
                return f"the default partition of {parent}, whose partition constraint changes"
            return f"the partitioned table {named} belongs to"
        if request.on in (ON_CHECK_INHERITORS, ON_CHECK_CHILDREN):
            known = (named, request.constraint or "") in self.constraints
            copy = "its copy of the check" if known else "its copy, if it is a check it inherits,"
            parents = self.inherits_from.get(table, set())
            parent = named if named in parents else min(parents, default=named)
            return f"inherits from {parent}: {copy} {request.constraint}"
        if request.on in (
            ON_PARTITIONS,
            ON_INHERITORS,
            ON_UNPRUNED_INHERITORS,
            ON_INHERITANCE_CHILDREN,
        ):
            parent = self.partition_of.get(table)
            words = "a partition of"
            if parent is None:  # a plain INHERITS child (of one table in the tree, at least)
                tree = {named, *self.partitions(named, inheritance=True)}
                parent = min(self.inherits_from.get(table, set()) & tree, default=named)
                words = "inherits from"
            return f"{words} {parent}" + (f", within {named}" if parent != named else "")
        if request.on == ON_CONSTRAINT_TARGET:
            return f"the table {request.constraint} references"
        if request.on == ON_REFERENCED:
            return f"a foreign key of {named} references it"
        if request.on in (ON_REFERENCING, ON_REFERENCING_ALL):
            return f"its foreign key references {named}" + (
                ", directly or through other tables" if request.on == ON_REFERENCING_ALL else ""
            )
        if request.on == ON_DEFAULT_PARTITION:
            return f"the default partition of {named}, whose partition constraint changes"
        return ""

    def _already_valid(self, effect: StatementEffect, path: Sequence[str]) -> set[tuple[str, str]]:
        """The constraints the statement validates that are valid already (the target's or
        the release's, known and not added NOT VALID): ATExecValidateConstraint (tablecmds.c)
        neither checks their rows, nor locks the table a foreign key references, nor
        recurses to partitions and children ("if (!con->convalidated)"); measured on
        PostgreSQL 15 by test_lock_elsewhere.py."""
        validated = {(self.qualify(r, path), c) for r, c in effect.constraint_validations}
        return {k for k in validated if k in self.constraints and k not in self.not_valid}

    def _unknown_constraint(
        self, effect: StatementEffect, request: LockRequest, path: Sequence[str]
    ) -> str | None:
        """What a constraint neither the target nor the release's earlier statements know
        would lock, were it a foreign key."""
        table = self.qualify(request.relation, path)
        if request.on != ON_CONSTRAINT_TARGET or (table, request.constraint) in self.constraints:
            return None
        return (
            f"if {request.constraint} is a foreign key, {effect.command} also takes "
            f"{request.mode.label} on the table it references: neither {self.facts.source} "
            f"nor the release's earlier statements have a constraint {request.constraint} "
            f"on {table}"
        )

    def _unsettled_partitions(
        self, effect: StatementEffect, request: LockRequest, path: Sequence[str], before: set[str]
    ) -> str | None:
        """The partitions an INSERT's rows or a query's WHERE choose, which the facts cannot
        settle: at most every partition (of those from before the file)."""
        if request.on not in (ON_ROW_PARTITION, ON_UNPRUNED_INHERITORS):
            return None
        table = self.qualify(request.relation, path)
        if (
            request.on == ON_UNPRUNED_INHERITORS
            and self.unpruned(table, request.rows, path) is not None
        ):
            return None
        partitions = sorted(p for p in self.partitions(table) if p in before)
        if not partitions:
            return None
        shown = ", ".join(partitions[:5]) + (
            f" and {len(partitions) - 5} more" if len(partitions) > 5 else ""
        )
        if request.on == ON_ROW_PARTITION:
            return (
                f"{effect.command} also takes {request.mode.label} on one partition of {table}, "
                f"chosen by the row: each row locks the partition it goes to (of {shown})"
            )
        clause = "its ON condition" if effect.command == "MERGE" else "the WHERE"
        return (
            f"{effect.command} also takes {request.mode.label} on at most every partition of "
            f"{table} ({shown}); fewer if {clause} prunes, which is not told here: "
            + self.why_unpruned(table, request.rows, path)
        )

    def _unknown_view_columns(
        self, effect: StatementEffect, request: LockRequest, path: Sequence[str]
    ) -> list[str]:
        """Views the release creates on a table whose column a ``DROP COLUMN ... CASCADE``
        drops: whether they use it is not known before they exist."""
        if request.on != ON_DEPENDENT_VIEWS or request.column is None:
            return []
        table = self.qualify(request.relation, path)
        return [
            f"{effect.command} may also drop {view} and take ACCESS EXCLUSIVE on it: a "
            f"{self.view_words(view)} the release creates on {table}, which may use column "
            f"{request.column}"
            for view, reads in sorted(self.view_reads.items())
            if table in reads and reads[table] is None
        ]

    # --- one file ---------------------------------------------------------------------

    def _file(self, item: FileStatements) -> list[Resolved]:
        before = set(self.origin)
        path = list(self.facts.search_path)
        resolved = []
        for effect in item.effects:
            if "search_path" in effect.settings:
                value = effect.settings["search_path"]
                path = [p.strip().strip('"') for p in value.split(",") if p.strip()] or path
                path = [p for p in path if p != "$user"] or list(self.facts.search_path)
            resolved.append(self._statement(item.migration.filename, effect, path, before))
            self.apply(effect, path)
        _later_statements(resolved)
        return resolved

    def _statement(
        self, file: str, effect: StatementEffect, path: list[str], before: set[str]
    ) -> Resolved:
        out = Resolved(file=file, effect=effect)
        for relation in effect.relations:
            name = self.qualify(relation, path)
            if name not in out.tables:
                out.tables.append(name)
        named = list(out.tables)
        out.lock_notes += effect.lock_notes
        already_valid = self._already_valid(effect, path)
        for request in effect.locks:
            if (self.qualify(request.relation, path), request.constraint) in already_valid and (
                request.on != ON_CONSTRAINT_TARGET or request.mode == LockMode.ROW_SHARE
            ):
                continue  # VALIDATE of a valid constraint: no check, no recursion
            unknown = self._unknown_constraint(effect, request, path)
            if unknown and self.qualify(request.relation, path) in before:
                out.lock_notes.append(unknown)
            out.lock_notes += self._unknown_view_columns(effect, request, path)
            unsettled = self._unsettled_partitions(effect, request, path, before)
            if unsettled and unsettled not in out.lock_notes:
                out.lock_notes.append(unsettled)
            for table in self._lock_targets(request, path):
                if request.on == ON_INDEX_TABLE and table not in out.tables:
                    out.tables.append(table)
                if table in before and request.mode > out.locks.get(
                    table, LockMode.ACCESS_SHARE - 1
                ):
                    out.locks[table] = request.mode
                    why = self._lock_why(effect, request, path, table)
                    if why and table not in named:
                        out.lock_why[table] = why
        checks = self.partition_checks(effect, path)
        if effect.inserts_maybe_none and (maybe := [a for a in checks if a in before]):
            out.lock_notes.append(
                f"{effect.command} also takes ACCESS SHARE on {', '.join(maybe)} if it inserts "
                "a row: each row is checked against its partition's bounds (its source decides)"
            )
            checks = {}
        for ancestor, why in checks.items():
            if ancestor in before and ancestor not in out.locks:
                out.locks[ancestor] = LockMode.ACCESS_SHARE
                out.lock_why[ancestor] = why
        out.on_target = [t for t in out.tables if self.origin.get(t)]
        target = set(out.on_target)
        for relation, why in effect.rewrites:
            name = self.qualify(relation, path)
            if name in target:
                out.rewrites[name] = why
        for relation, why in effect.scans:
            name = self.qualify(relation, path)
            if name in target and not any(
                (name, c) in already_valid and why == f"VALIDATE CONSTRAINT {c} reads every row"
                for _, c in effect.constraint_validations
            ):
                out.scans[name] = why
        for change in effect.type_changes:
            self._type_change(out, change, path)
        for added in effect.column_adds:
            self._column_add(out, added.relation, added, path)
        for relation, column in effect.not_null_sets:
            self._set_not_null(out, self.qualify(relation, path), column)
        for found in effect.hazards:
            where: str | None = None
            if found.relation is not None:
                if found.code in ("drop_index_not_concurrently", "reindex_not_concurrently"):
                    index = self.qualify(found.relation, path, set(self.indexes))
                    where = self.indexes.get(index, self.qualify(found.relation, path))
                else:
                    where = self.qualify(found.relation, path)
                if not self.origin.get(where):
                    continue
            out.hazards.append(Hazard(found.code, where, found.detail))
        for loss in effect.losses:
            name = self.qualify(loss.relation, path)
            origin = self.origin.get(name)
            if not origin:
                out.losses_elsewhere.append(name)
                continue
            schema, table_name = origin.split(".", 1)
            old = None
            if loss.kind == data_loss.TYPE_CHANGE:
                known = self._column_facts(name, loss.column or "")
                old = known.type if known else None
                new = loss.new_type
                if old and new and not loss.using and data_loss.keeps_every_value(old, new):
                    continue  # a widening change (int to bigint) destroys nothing
            out.counts.append(CountRequest(loss, Relation(schema, table_name), old))
        return out

    def _column_facts(self, table: str, column: str) -> ColumnFacts | None:
        origin = self.origin.get(table)
        facts = self.facts.relation(origin) if origin else None
        return facts.columns.get(column) if facts else None

    def _type_change(self, out: Resolved, change: TypeChange, path: Sequence[str]) -> None:
        table = self.qualify(change.relation, path)
        if not self.origin.get(table):
            return
        column = self._column_facts(table, change.column)
        rewrites, why = type_change_rewrites(
            column.type if column else None, change.new, change.using
        )
        if rewrites:
            out.rewrites[table] = f"column {change.column}: {why}"
            out.hazards.append(
                Hazard("alter_column_type_rewrites", table, f"column {change.column}: {why}")
            )

    def _column_add(
        self, out: Resolved, relation: Relation, added: ColumnAdd, path: Sequence[str]
    ) -> None:
        table = self.qualify(relation, path)
        origin = self.origin.get(table)
        if not origin:
            return
        why = added.rewrites_always
        if why is None:
            for function in added.default_functions:
                name = function.rsplit(".", 1)[-1].lower()
                if name in NOT_VOLATILE:
                    continue
                kind = "v" if name in VOLATILE else self.facts.volatility.get(name)
                if kind == "v":
                    why = f"its default calls {function}(), which is volatile: one value per row"
                elif kind is None:
                    why = (
                        f"its default calls {function}(), not on the target to check: "
                        "assumed volatile (one value per row)"
                    )
                if why:
                    break
        if why:
            out.rewrites[table] = f"ADD COLUMN {added.column}: {why}"
            out.hazards.append(
                Hazard("add_column_rewrites", table, f"column {added.column}: {why}")
            )
        facts = self.facts.relation(origin)
        rows = facts.rows if facts else None
        if added.not_null and not added.has_default and (rows is None or rows > 0):
            out.hazards.append(
                Hazard(
                    "add_column_not_null_without_default",
                    table,
                    f"column {added.column}; {table} has "
                    + (f"~{rows:,} rows" if rows is not None else "rows of unknown number"),
                )
            )

    def _set_not_null(self, out: Resolved, table: str, column: str) -> None:
        if not self.origin.get(table):
            return
        facts = self._column_facts(table, column)
        if facts is not None and facts.not_null:
            return
        if facts is not None and facts.not_null_check:
            out.scans.pop(table, None)
            return
        out.scans[table] = f"SET NOT NULL on {column} reads every row to look for nulls"
        out.hazards.append(Hazard("set_not_null_scans", table, f"column {column}"))


def _later_statements(resolved: list[Resolved]) -> None:
    """A strong lock kept while later statements of the same transaction read or rewrite."""
    for position, statement in enumerate(resolved):
        strong = {
            t: m for t, m in statement.locks.items() if m.blocks_writes and t in statement.on_target
        }
        if not strong:
            continue
        for later in resolved[position + 1 :]:
            if later.effect.transaction in ("commit", "rollback") or later.effect.no_transaction:
                break
            heavy = {**later.rewrites, **later.scans}
            if heavy or later.effect.opaque:
                table, mode = max(strong.items(), key=lambda kv: kv[1])
                what = f"reads or rewrites {', '.join(sorted(heavy))}" if heavy else "runs code"
                statement.hazards.append(
                    Hazard(
                        "lock_held_by_later_statements",
                        table,
                        f"{mode.label} on {table} is still held while line "
                        f"{later.effect.line} ({later.effect.command}) {what}",
                    )
                )
                break
