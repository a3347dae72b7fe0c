"""The release's catalog as its statements run, for ``release_risk.Resolver``.

``ReleaseCatalog`` starts from what the target has (``TargetFacts``) and follows what each
statement leaves behind (``apply``): the relations that exist and the target's name for
each, indexes, constraints and which are not valid yet, foreign keys' columns, partitions
with their keys and bounds, plain INHERITS children, and what each view reads. Its
queries (``partitions``, ``unpruned``, ``foreign_key_other_ends``, ``dependent_views``,
``view_sources``) answer which tables a statement reaches that it does not name; the
Resolver turns them into locks and words.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

from migrations_ops.pg import partition_pruning, prune_steps
from migrations_ops.pg.effect_model import (
    ON_DEPENDENT_VIEWS,
    ON_FOREIGN_KEY_OTHER_END,
    ON_INHERITORS,
    ON_ROW_PARTITION,
    ON_TABLE,
    ON_UNPRUNED_INHERITORS,
    StatementEffect,
)
from migrations_ops.pg.locks import LockMode
from migrations_ops.pg.partition_pruning import RowFilter
from migrations_ops.pg.sql_names import Relation
from migrations_ops.pg.target_facts import TargetFacts

# Statements the planner plans and the executor runs over rows (not DDL).
_PLANNED_COMMANDS = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "MERGE"})


class ReleaseCatalog:
    """What exists at each point of the release; see the module docstring."""

    def __init__(self, facts: TargetFacts) -> None:
        self.facts = facts
        # Current name -> the target's name for it (None: created by the release).
        self.origin: dict[str, str | None] = {name: name for name in facts.relations}
        self.indexes: dict[str, str] = dict(facts.indexes)
        # (table, constraint) -> the table a foreign key references, None for another kind:
        # the target's, then as the release's statements add, rename and drop them.
        self.constraints: dict[tuple[str, str], str | None] = {
            **dict.fromkeys(facts.other_constraints),
            **facts.constraint_targets,
        }
        # The constraints not valid yet: the target's, and those the release adds NOT VALID,
        # until it validates them.
        self.not_valid: set[tuple[str, str]] = set(facts.not_valid_constraints)
        # The CHECKs INHERITS children hold a copy of (not NO INHERIT), as for not_valid.
        self.inherited_checks: set[tuple[str, str]] = set(facts.inherited_checks)
        # (table, foreign key) -> (its columns, the referenced ones), as for constraints.
        self.foreign_key_columns = dict(facts.foreign_key_columns)
        # Partition -> the partitioned table it belongs to, as the release changes them.
        self.partition_of: dict[str, str] = dict(facts.partition_of)
        # Partitioned table -> its key, partition -> its bound: the target's, as the release
        # renames them (and their key columns), and those its statements create or attach.
        self.partition_keys = dict(facts.partition_keys)
        self.partition_bounds = dict(facts.partition_bounds)
        # Partitioned table -> its default partition (a new partition's rows leave it).
        self.default_partition: dict[str, str] = dict(facts.default_partitions)
        # Plain INHERITS child -> the tables it inherits from, as the release changes them.
        self.inherits_from: dict[str, set[str]] = {
            child: set(parents) for child, parents in facts.inherits_from.items()
        }
        # View -> each relation it reads -> the columns it uses (None: a view the release
        # creates, whose columns are not known before it runs).
        self.view_reads: dict[str, dict[str, set[str] | None]] = {
            view: dict(reads.items()) for view, reads in facts.view_reads.items()
        }
        self.materialized: set[str] = {
            name for name, r in facts.relations.items() if r.kind == "materialized view"
        }

    def qualify(
        self, relation: Relation, path: Sequence[str], known: set[str] | None = None
    ) -> str:
        if relation.schema:
            return f"{relation.schema}.{relation.name}"
        existing = known if known is not None else set(self.origin)
        for schema in path:
            if f"{schema}.{relation.name}" in existing:
                return f"{schema}.{relation.name}"
        return f"{path[0] if path else 'public'}.{relation.name}"

    def target_name(self, table: str) -> str | None:
        return self.origin.get(table)

    def partitions_of(self, parent: str) -> list[str]:
        """The partitions directly of ``parent`` (not theirs)."""
        return [p for p, of in self.partition_of.items() if of == parent]

    def partitions(self, table: str, *, inheritance: bool = False) -> set[str]:
        """The partitions of ``table``, theirs, and so on; with ``inheritance``, its plain
        INHERITS children (and theirs) too."""
        found: set[str] = set()
        todo = [table]
        while todo:
            parent = todo.pop()
            children = self.partitions_of(parent)
            if inheritance:
                children += [c for c, parents in self.inherits_from.items() if parent in parents]
            for child in children:
                if child not in found:
                    found.add(child)
                    todo.append(child)
        return found

    def unpruned(
        self, table: str, rows: RowFilter | None, path: Sequence[str] = ()
    ) -> set[str] | None:
        """The partitions of ``table`` (and theirs) that plan-time pruning keeps for a
        query whose WHERE says ``rows``; None when the keys, bounds or WHERE do not tell
        (partition_pruning.kept)."""
        if rows is None:
            return None
        found: set[str] = set()
        todo = [(table, self._own_within(table))]
        while todo:
            parent, within = todo.pop()
            children = self.partitions_of(parent)
            if not children:
                continue
            key = self.partition_keys.get(parent)
            bounds = {c: self.partition_bounds.get(c) for c in children}
            known = {c: b for c, b in bounds.items() if b is not None}
            if key is None or len(known) != len(bounds):
                return None
            kept = prune_steps.kept(key, known, self._through_joins(key, rows, path), within)
            if kept is None:
                return None
            for child in kept:
                found.add(child)
                todo.append((child, self._within(key, known[child], within)))
        return found

    @staticmethod
    def _within(
        key: partition_pruning.PartitionKey | None,
        bound: partition_pruning.PartitionBound | None,
        within: prune_steps.Within,
    ) -> prune_steps.Within:
        """A partition's partition constraint: its parent's, and its own bound (a HASH
        bound, satisfies_hash_partition(), prunes and rules out nothing; a default
        partition's, NOT of the others', is not read here)."""
        if key is not None and key.strategy == "h":
            return within
        if key is None or bound is None or bound.default:
            return (*within, (None, None, key))
        own = prune_steps.bound_values(bound, key)
        column = key.columns[0] if len(key.columns) == 1 and own is not None else None
        return (*within, (column, own, key))

    def _own_within(self, table: str) -> prune_steps.Within:
        """The partition constraint of a table the query names (a partition itself, when
        it is one): its ancestors' bounds and its own, as PostgreSQL adds them."""
        chain = [table]
        while chain[-1] in self.partition_of and len(chain) <= len(self.partition_of):
            chain.append(self.partition_of[chain[-1]])
        within: prune_steps.Within = ()
        for child, parent in reversed(list(itertools.pairwise(chain))):
            bound = self.partition_bounds.get(child)
            within = self._within(self.partition_keys.get(parent), bound, within)
        return within

    def _through_joins(
        self, key: partition_pruning.PartitionKey, rows: RowFilter, path: Sequence[str]
    ) -> RowFilter:
        """``rows``, with a key column known through a join to a column of another type
        (or of a table whose columns are not known) left unread: the join compares them
        through a cast (int = numeric), which the planner's equivalence class keeps, and
        the key then does not prune."""
        unread = set()
        for test in rows.tests:
            for schema, name, column in test.via:
                qualified = self.qualify(Relation(schema, name), path or ["public"])
                origin = self.origin.get(qualified)
                facts = self.facts.relation(origin) if origin else None
                known = facts.columns.get(column) if facts else None
                key_type = key.column_type(test.column)[0] if test.column in key.columns else ""
                if known is None or known.type.array or known.type.name != key_type:
                    unread.add(test.column)
        if not unread:
            return rows
        return dataclasses.replace(rows, named=rows.named | unread)

    def why_unpruned(self, table: str, rows: RowFilter | None, path: Sequence[str] = ()) -> str:
        """Why ``unpruned`` cannot tell, for the first table in the tree it cannot."""
        todo = [(table, self._own_within(table))]
        while todo and rows is not None:
            parent, within = todo.pop()
            children = self.partitions_of(parent)
            if not children:
                continue
            key = self.partition_keys.get(parent)
            bounds = {c: self.partition_bounds.get(c) for c in children}
            if key is None or None in bounds.values():
                return partition_pruning.why_not(key, rows)
            known = {c: b for c, b in bounds.items() if b is not None}
            read = self._through_joins(key, rows, path)
            if prune_steps.kept(key, known, read, ()) is None:
                return partition_pruning.why_not(key, read)
            if prune_steps.kept(key, known, read, within) is None:
                return (
                    f"{parent} is itself a partition: PostgreSQL adds its bounds to the "
                    "conditions on it, which may prune or rule out some of them (a default "
                    "partition's bounds, or ones not read here)"
                )
            todo += [(child, self._within(key, known[child], within)) for child in children]
        return partition_pruning.why_not(None, rows)

    def partition_checks(self, effect: StatementEffect, path: Sequence[str]) -> dict[str, str]:
        """The ancestors a query or a row change opens, ACCESS SHARE, to read a partition's
        partition constraint (``generate_partition_qual``; measured on PostgreSQL 15: the
        relation cache keeps it, so the first use of the partition in a session): every
        ancestor of a partition a row is inserted into directly (its rows are checked
        against its bounds), and of a partition that is itself partitioned that a query or
        an UPDATE, DELETE or MERGE plans (its own partitions are pruned within them)."""
        if effect.command not in _PLANNED_COMMANDS:
            return {}
        checked: dict[str, str] = {}
        for request in effect.locks:
            table = self.qualify(request.relation, path)
            if table not in self.partition_of:
                continue
            inserts = request.on == ON_ROW_PARTITION or (
                effect.command == "INSERT"
                and request.on == ON_TABLE
                and request.mode == LockMode.ROW_EXCLUSIVE
            )
            planned = request.on in (ON_INHERITORS, ON_UNPRUNED_INHERITORS)
            if not (inserts or (planned and table in self.partition_keys)):
                continue
            why = (
                f"a row inserted into its partition {table} is checked against its bounds"
                if inserts
                else f"its partition {table} is pruned within its bounds"
            )
            parent = self.partition_of.get(table)
            while parent is not None and parent not in checked:
                checked[parent] = f"{why} (read on the partition's first use in a session)"
                parent = self.partition_of.get(parent)
        return checked

    def check_copies(self, table: str, constraint: str, *, children_only: bool) -> set[str]:
        """The plain INHERITS children of ``table`` (with ``children_only``, not theirs)
        holding a copy of its ``constraint``: none unless it is a CHECK they inherit, or a
        constraint neither the target nor the release knows (it may be one)."""
        key = (table, constraint)
        if key in self.constraints and key not in self.inherited_checks:
            return set()
        if children_only:
            return {c for c, parents in self.inherits_from.items() if table in parents}
        return self.partitions(table, inheritance=True) - self.partitions(table)

    def foreign_key_other_ends(self, table: str, column: str) -> dict[str, str]:
        """The table at the other end of each foreign key ``column`` of ``table`` is in
        (the target's, and those the release adds), with the key's name."""
        found: dict[str, str] = {}
        for (source, name), target in self.constraints.items():
            columns, referenced = self.foreign_key_columns.get((source, name), ((), ()))
            if source == table and column in columns and target and target != table:
                found[target] = name
            elif target == table and column in referenced and source != table:
                found[source] = name
        return found

    def dependent_views(self, table: str, column: str | None = None) -> dict[str, str]:
        """Each view built on ``table`` (on its ``column``, when given: views whose columns
        are not known are left to ``_unknown_view_columns``), and on those, with the
        relation it is built on."""
        found: dict[str, str] = {}
        for view, reads in self.view_reads.items():
            used = reads.get(table, set())
            if table in reads and (column is None or (used is not None and column in used)):
                found[view] = table
        todo = list(found)
        while todo:
            built_on = todo.pop()
            for view, reads in self.view_reads.items():
                if built_on in reads and view not in found and view != table:
                    found[view] = built_on
                    todo.append(view)
        return found

    def view_sources(self, view: str) -> dict[str, str]:
        """What a materialized view's query reads, with the view that reads it: through
        each plain view it reads (the rewriter expands it), not through a materialized one."""
        found: dict[str, str] = {}
        todo = [view]
        while todo:
            reader = todo.pop()
            for read in self.view_reads.get(reader, {}):
                if read not in found and read != view:
                    found[read] = reader
                    if read not in self.materialized:
                        todo.append(read)
        return found

    def view_words(self, view: str) -> str:
        return "materialized view" if view in self.materialized else "view"

    def apply(self, effect: StatementEffect, path: Sequence[str]) -> None:
        """What the statement leaves behind, for the statements after it."""
        for old, new in effect.renames:
            old_name = self.qualify(old, path)
            new_name = self.qualify(new.qualified_in(old_name.split(".", 1)[0]), path)
            self.origin[new_name] = self.origin.pop(old_name, None)
            self.partition_of = {
                new_name if p == old_name else p: new_name if of == old_name else of
                for p, of in self.partition_of.items()
            }
            self.inherits_from = {
                new_name if c == old_name else c: {new_name if p == old_name else p for p in of}
                for c, of in self.inherits_from.items()
            }
            for moved in (self.partition_keys, self.partition_bounds):
                if old_name in moved:
                    moved[new_name] = moved.pop(old_name)  # type: ignore[assignment]
            self.default_partition = {
                new_name if p == old_name else p: new_name if d == old_name else d
                for p, d in self.default_partition.items()
            }
            self.view_reads = {
                new_name if v == old_name else v: {
                    new_name if r == old_name else r: c for r, c in reads.items()
                }
                for v, reads in self.view_reads.items()
            }
            if old_name in self.materialized:
                self.materialized = (self.materialized - {old_name}) | {new_name}
            self.constraints = {
                (new_name if s == old_name else s, c): new_name if t == old_name else t
                for (s, c), t in self.constraints.items()
            }
            self.foreign_key_columns = {
                (new_name if s == old_name else s, c): columns
                for (s, c), columns in self.foreign_key_columns.items()
            }
            self.not_valid = {(new_name if s == old_name else s, c) for s, c in self.not_valid}
            self.inherited_checks = {
                (new_name if s == old_name else s, c) for s, c in self.inherited_checks
            }
        for request in effect.locks:
            if request.on == ON_DEPENDENT_VIEWS:  # DROP ... CASCADE: the views go too
                dropped = self.qualify(request.relation, path)
                for gone_view in self.dependent_views(dropped, request.column):
                    self.origin.pop(gone_view, None)
                    self.view_reads.pop(gone_view, None)
            if request.on == ON_FOREIGN_KEY_OTHER_END and not any(
                c.column == request.column for c in effect.type_changes
            ):  # DROP COLUMN: its foreign keys go with it
                owner = self.qualify(request.relation, path)
                ends = self.foreign_key_other_ends(owner, request.column or "")
                for other_end, key in ends.items():
                    self.constraints.pop((owner, key), None)
                    self.constraints.pop((other_end, key), None)
        for relation in effect.drops:
            name = self.qualify(relation, path)
            # A partitioned table's partitions go with it, and (CASCADE) a table's
            # INHERITS children.
            for gone in (name, *self.partitions(name, inheritance=True)):
                self.origin.pop(gone, None)
                self.partition_keys.pop(gone, None)
                self.partition_bounds.pop(gone, None)
                self.partition_of.pop(gone, None)
                self.inherits_from.pop(gone, None)
                self._forget_default(gone)
                self.view_reads.pop(gone, None)
            # Its constraints go with it, and (CASCADE) the foreign keys that point at it.
            self.constraints = {k: t for k, t in self.constraints.items() if name not in (k[0], t)}
        for relation in effect.creates:
            name = self.qualify(relation, path)
            if name not in self.origin:
                self.origin[name] = None
        for partition, parent in effect.partition_adds:
            self.partition_of[self.qualify(partition, path)] = self.qualify(parent, path)
            self.partition_bounds.pop(self.qualify(partition, path), None)
        for bounded, bound in effect.partition_bounds_added:
            self.partition_bounds[self.qualify(bounded, path)] = bound
        for keyed, new_key in effect.partition_keys_added:
            # A text key in the database's default collation: the target's says its order.
            default = partition_pruning.KeyCollation("default", self.facts.default_collation)
            collations = tuple(
                default if c is not None and c.order == "?" else c for c in new_key.collations
            )
            self.partition_keys[self.qualify(keyed, path)] = dataclasses.replace(
                new_key, collations=collations
            )
        for partition in effect.default_partition_adds:
            name = self.qualify(partition, path)
            if name in self.partition_of:
                self.default_partition[self.partition_of[name]] = name
        for relation, old_column, new_column in effect.column_renames:
            # renameatt renames it in every partition too: their keys follow.
            renamed = self.qualify(relation, path)
            for partitioned in (renamed, *self.partitions(renamed)):
                known = self.partition_keys.get(partitioned)
                if known is not None:
                    columns = tuple(new_column if c == old_column else c for c in known.columns)
                    self.partition_keys[partitioned] = dataclasses.replace(known, columns=columns)
        for partition, _ in effect.partition_drops:
            self.partition_of.pop(self.qualify(partition, path), None)
            self._forget_default(self.qualify(partition, path))
        for child, parent in effect.inherit_adds:
            parents = self.inherits_from.setdefault(self.qualify(child, path), set())
            parents.add(self.qualify(parent, path))
        for child, parent in effect.inherit_drops:
            self.inherits_from.get(self.qualify(child, path), set()).discard(
                self.qualify(parent, path)
            )
        for created in {self.qualify(v, path) for v, _, _ in effect.view_reads}:
            self.view_reads[created] = {}  # CREATE OR REPLACE VIEW: what it reads now
        for view, read, materialized in effect.view_reads:
            name = self.qualify(view, path)
            self.view_reads[name][self.qualify(read, path)] = None
            if materialized:
                self.materialized.add(name)
        for index, table in effect.new_indexes:
            table_name = self.qualify(table, path)
            self.indexes[f"{table_name.split('.', 1)[0]}.{index.name}"] = table_name
        self._apply_constraints(effect, path)

    def _forget_default(self, table: str) -> None:
        """``table`` is dropped or detached: no longer a default partition, nor partitioned."""
        self.default_partition.pop(table, None)
        self.default_partition = {p: d for p, d in self.default_partition.items() if d != table}

    def _apply_constraints(self, effect: StatementEffect, path: Sequence[str]) -> None:
        """The constraints the statement adds, renames and drops (renamed and dropped tables:
        ``_apply``)."""
        for added in effect.constraint_adds:
            table = self.qualify(added.relation, path)
            target = self.qualify(added.references, path) if added.references else None
            self.constraints[(table, added.name)] = target
            if added.not_valid:
                self.not_valid.add((table, added.name))
            else:
                self.not_valid.discard((table, added.name))
            if added.inherited:
                self.inherited_checks.add((table, added.name))
            else:
                self.inherited_checks.discard((table, added.name))
            self.foreign_key_columns[(table, added.name)] = (
                added.columns,
                added.referenced_columns,
            )
        for relation, constraint in effect.constraint_drops:
            self.constraints.pop((self.qualify(relation, path), constraint), None)
        for relation, constraint in effect.constraint_validations:
            self.not_valid.discard((self.qualify(relation, path), constraint))
        for relation, old_constraint, new_constraint in effect.constraint_renames:
            table = self.qualify(relation, path)
            if (table, old_constraint) in self.constraints:
                target = self.constraints.pop((table, old_constraint))
                self.constraints[(table, new_constraint)] = target
                moved = self.foreign_key_columns.pop((table, old_constraint), ((), ()))
                self.foreign_key_columns[(table, new_constraint)] = moved
                for kept in (self.not_valid, self.inherited_checks):
                    if (table, old_constraint) in kept:
                        kept.remove((table, old_constraint))
                        kept.add((table, new_constraint))
