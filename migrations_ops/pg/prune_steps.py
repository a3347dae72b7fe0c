"""Which partitions of a partitioned table PostgreSQL 15's plan-time pruning keeps for a
query's conditions on it (a ``RowFilter``), step by step as partprune.c computes them.

Each condition on the key is a pruning step, whose result (``Step``, partprune.c's
``PruneStepResult``) is a set of bound offsets (here: partitions, and for RANGE the
stretches between them that no partition holds) with two flags, scan the default
partition and scan the null-accepting one:

- a conjunction's steps are intersected (``PARTPRUNE_COMBINE_INTERSECT``: the offsets,
  and the flags ANDed), an OR's arms united (``PARTPRUNE_COMBINE_UNION``:
  ``gen_partprune_steps_internal``); an arm that says nothing about the key keeps
  everything (its step is an empty combine step: every offset, the default and the null
  partition), an arm that contradicts itself is left out, and an OR whose arms all do
  contradicts the conjunction it is in;
- ``key IS NULL`` keeps, in LIST, the partition whose list holds NULL, else the default
  partition; in RANGE, the default partition. With any other condition on the key in the
  same conjunction it is a contradiction (the operators are strict). ``key IS NOT NULL``
  alone keeps every partition holding a value, with the default (not a LIST partition
  holding only NULL); in HASH, IS NULL keeps the partition of hash 0. An ``IN`` list is
  not such a condition (a ScalarArrayOpExpr is an OR of its own: PARTCLAUSE_MATCH_STEPS):
  with IS NULL it is intersected;
- ``=`` and ``IN`` on a HASH key keep the partitions of the values' hashes
  (``hash_partitions``); any other comparison says nothing about a HASH key (its
  operator is not in the hash operator family). A HASH key of several columns prunes
  only in a conjunction with an ``=`` (or IS NULL) on each of them: one step for each
  combination of their values (``get_steps_using_prefix``), intersected; an ``IN`` list
  is an OR whose arms name one column, which prune nothing there. A RANGE key of several
  columns: an ``=`` on each keeps the partition holding that row of values (bounds in
  their lexicographic order, MINVALUE and MAXVALUE included), IS NULL on one the default;
  a prefix or a comparison is not computed here;
- at the top level, two different constants the key equals is a contradiction the
  planner finds first (equivalence classes; not inside an OR, where each condition is
  its own step): nothing is kept;
- a partition that is partitioned itself has a partition constraint, its bounds and its
  ancestors' (``Within``): with a default partition, the bounds on its key are steps too
  (gen_partprune_steps), and an OR arm without a condition on its key that the
  constraint refutes is left out (predicate_refuted_by).

The values are compared as a dense order (a range ``(19, 20)`` of integers is not empty),
as PostgreSQL's bound search does (``get_matching_range_bounds``). A RANGE table's
default partition is kept when a stretch no partition holds survives (get_matching_
partitions: a bound offset without a partition "is still part of the queried range of
values"); a LIST table's when every step needs it (a value in no list, or a comparison).
Measured on PostgreSQL 15 by the lock tests (test_lock_elsewhere.py,
test_lock_pruning_steps.py, test_lock_or_null_hash.py).
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass
from typing import Any

from migrations_ops.pg import hash_partitions, key_values
from migrations_ops.pg.key_values import SKIP
from migrations_ops.pg.partition_pruning import (
    MAXVALUE,
    MINVALUE,
    AnyOf,
    KeyTest,
    PartitionBound,
    PartitionKey,
    RowFilter,
)

_NULLNESS = ("is null", "is not null")


@dataclass(frozen=True)
class Interval:
    """Values between ``low`` and ``high`` (None: unbounded), each end in or out."""

    low: Any = None
    low_in: bool = False
    high: Any = None
    high_in: bool = False

    def has(self, value: Any) -> bool:
        above = self.low is None or value > self.low or (value == self.low and self.low_in)
        below = self.high is None or value < self.high or (value == self.high and self.high_in)
        return above and below

    def meet(self, other: Interval) -> Interval:
        low, low_in = self.low, self.low_in
        if other.low is not None and (
            low is None or other.low > low or (other.low == low and not other.low_in)
        ):
            low, low_in = other.low, other.low_in
        high, high_in = self.high, self.high_in
        if other.high is not None and (
            high is None or other.high < high or (other.high == high and not other.high_in)
        ):
            high, high_in = other.high, other.high_in
        return Interval(low, low_in, high, high_in)

    @property
    def empty(self) -> bool:
        if self.low is None or self.high is None:
            return False
        return self.low > self.high or (
            self.low == self.high and not (self.low_in and self.high_in)
        )


# What a condition (or a bound) allows of one column: a set of values, or an interval.
Values = frozenset[Any] | Interval

# What a partitioned table's own bound and its ancestors' allow (its partition constraint,
# partition_qual): each bound's column and the values it allows (None: not read here),
# with that ancestor's key (its column's type). A HASH ancestor's adds nothing.
Within = tuple[tuple[str | None, "Values | None", PartitionKey | None], ...]


def meet(a: Values, b: Values) -> Values:
    if isinstance(a, Interval) and isinstance(b, Interval):
        return a.meet(b)
    if isinstance(a, Interval):
        a, b = b, a
    assert isinstance(a, frozenset)
    return frozenset(v for v in a if (v in b if isinstance(b, frozenset) else b.has(v)))


def is_empty(values: Values) -> bool:
    return not values if isinstance(values, frozenset) else values.empty


def bound_values(bound: PartitionBound, key: PartitionKey) -> Values | None:
    """The values of the key's column a partition holds (NULL left out), or None when
    its bound is not read here (a HASH bound holds no stretch of values)."""
    type_name, collation = key.types[0], key.collation()

    def read(constant: key_values.Constant) -> Any:
        return key_values.value(type_name, constant, collation, bound=True)

    if key.strategy == "l":
        values = [read(v) for v in bound.values if v is not None]
        return None if None in values else frozenset(values)
    if key.strategy != "r" or len(bound.lower) != 1 or len(bound.upper) != 1:
        return None
    if not key_values.ordered(type_name, collation):
        return None
    low = None if bound.lower[0] == MINVALUE else read(bound.lower[0])
    high = None if bound.upper[0] == MAXVALUE else read(bound.upper[0])
    if (low is None and bound.lower[0] != MINVALUE) or (
        high is None and bound.upper[0] != MAXVALUE
    ):
        return None
    return Interval(low, True, high, False)


@dataclass(frozen=True)
class Step:
    """What pruning steps keep: offsets (partitions, RANGE gaps), scan default, scan null."""

    regions: frozenset[str]
    default: bool = False
    null: bool = False

    def meet(self, other: Step) -> Step:
        return Step(
            self.regions & other.regions, self.default and other.default, self.null and other.null
        )

    def join(self, other: Step) -> Step:
        return Step(
            self.regions | other.regions, self.default or other.default, self.null or other.null
        )


# A conjunction that contradicts itself, or says nothing about the key (no step).
CONTRADICTION: Any = type("Contradiction", (), {"__repr__": lambda self: "CONTRADICTION"})()
NO_STEP: Any = type("NoStep", (), {"__repr__": lambda self: "NO_STEP"})()


class _Space:
    """One partitioned table's partitions as its pruning steps see them."""

    def __init__(
        self, key: PartitionKey, bounds: dict[str, PartitionBound], rows: RowFilter, within: Within
    ) -> None:
        self.key = key
        self.within = within
        self.within_named = bool({c for c, _, _ in within} & rows.named)
        self.column = key.columns[0]
        self.default = next((p for p, b in bounds.items() if b.default), None)
        self.null = next((p for p, b in bounds.items() if None in b.values), None)
        self.held: dict[str, Values] = {}
        self.hashes = {p: (b.modulus, b.remainder) for p, b in bounds.items() if b.modulus}
        self.readable = key.strategy in ("r", "l") or len(self.hashes) == len(bounds)
        # HASH, or RANGE of several columns: steps from a value of every key column.
        self.by_rows = key.strategy == "h" or len(key.columns) > 1
        self.offsets: dict[int, str] = {}  # RANGE of several columns: bound offset -> partition
        self.datums: list[tuple[Any, ...]] = []
        self.regions: dict[str, Values] = {}
        if key.strategy == "r" and len(key.columns) > 1:
            self._read_rows(bounds)
        for partition, bound in bounds.items():
            if partition != self.default and not self.by_rows:
                values = bound_values(bound, key)
                if values is None:
                    self.readable = False
                else:
                    self.held[partition] = values
        if not self.by_rows:
            self.regions = dict(self.held)
        if key.strategy == "r" and self.readable and not self.by_rows:
            self.regions.update(_gaps(self.held))
        self.listed = frozenset(
            v for values in self.held.values() if isinstance(values, frozenset) for v in values
        )

    def _read_rows(self, bounds: dict[str, PartitionBound]) -> None:
        """A RANGE key of several columns: its bounds in order (MINVALUE below every value,
        MAXVALUE above), each partition at the offset of its upper bound, as
        partition_range_datum_bsearch finds them."""
        spans = {}
        for partition, bound in bounds.items():
            if partition != self.default:
                lower, upper = self._datum(bound.lower), self._datum(bound.upper)
                if lower is None or upper is None:
                    self.readable = False
                    return
                spans[partition] = (lower, upper)
        self.datums = sorted({d for span in spans.values() for d in span})
        self.offsets = {self.datums.index(upper): p for p, (_, upper) in spans.items()}
        names = [self.offsets.get(o, f" offset {o}") for o in range(len(self.datums) + 1)]
        self.regions = dict.fromkeys(names, frozenset())

    def _datum(self, constants: tuple[key_values.Constant, ...]) -> tuple[Any, ...] | None:
        if len(constants) != len(self.key.columns):
            return None
        found: list[Any] = []
        for column, constant in zip(self.key.columns, constants, strict=True):
            type_name, collation = self.key.column_type(column or "")
            if constant in (MINVALUE, MAXVALUE):
                found.append((0,) if constant == MINVALUE else (2,))
                continue
            value = key_values.value(type_name, constant, collation, bound=True)
            if value is None or not key_values.ordered(type_name, collation):
                return None
            found.append((1, value))
        return tuple(found)

    def everything(self) -> Step:
        names = self.hashes if self.key.strategy == "h" else self.regions
        return Step(frozenset(names), self.default is not None, self.null is not None)

    def read(self, test: KeyTest) -> list[Any] | None:
        """The test's values as the key's; None when one is not compared here; [SKIP]
        when the test prunes nothing (another collation, a HASH key's ``<``)."""
        type_name, collation = self.key.column_type(test.column)
        if test.op in _NULLNESS:
            return []
        if self.key.strategy == "h" and test.op != "=":
            return [SKIP]
        values = [key_values.value(type_name, v, collation) for v in test.values]
        if None in values:
            return None
        ordered = self.key.strategy == "h" or key_values.ordered(type_name, collation)
        if test.op != "=" and not ordered:
            return None
        return [SKIP] if SKIP in values else values

    def leaf(self, test: KeyTest, values: list[Any]) -> Step:
        """One test's step (RANGE, LIST)."""
        if test.op == "is null":
            if self.key.strategy == "l" and self.null is not None:
                return Step(frozenset(), null=True)
            return Step(frozenset(), default=self.default is not None)
        if test.op == "is not null":
            if self.key.strategy == "l":
                holding = frozenset(p for p, v in self.held.items() if v)
                return Step(holding, self.default is not None)
            return Step(frozenset(self.regions), self.default is not None)
        return self.values_step(_allowed(test.op, values))

    def refutes(self, arm: tuple[KeyTest | AnyOf, ...]) -> bool | None:
        """Whether an OR arm without a condition on the key refutes the table's partition
        constraint, which makes PostgreSQL leave the arm out (gen_partprune_steps_internal:
        predicate_refuted_by): one of its tests allows no value of one ancestor's bound
        (each test against each bound, as predtest.c proves); None when not told here."""
        if not self.within:
            return False  # not a partition: no partition constraint
        if self.within_named or any(c is None or v is None for c, v, _ in self.within):
            return None
        for item in arm:
            if isinstance(item, AnyOf):
                arms = [self.refutes(a) for a in item.arms]
                if None in arms:
                    return None
                if all(arms):
                    return True
                continue
            for column, held, key in self.within:
                if item.column != column or held is None or key is None:
                    continue
                if item.op in _NULLNESS:
                    return None  # a LIST bound may hold NULL: not read here
                type_name, collation = key.column_type(column)
                values = [key_values.value(type_name, v, collation) for v in item.values]
                ordered = item.op == "=" or key_values.ordered(type_name, collation)
                if None in values or SKIP in values or not ordered:
                    return None
                if is_empty(meet(_allowed(item.op, values), held)):
                    return True
        return False

    def by_values(self, rows: list[tuple[Any, ...]]) -> Any:
        """HASH, RANGE of several columns: the steps of rows of key values (None: NULL),
        intersected; None when one is not hashed here."""
        found = self.everything()
        if self.key.strategy == "r":
            if any(None in row for row in rows):  # IS NULL: the default partition only
                return Step(frozenset(), default=self.default is not None)
            for row in rows:
                offset = bisect.bisect_right(self.datums, tuple((1, v) for v in row))
                found = found.meet(Step(frozenset({self.offsets.get(offset, f" offset {offset}")})))
            return found
        for row in rows:
            hashed = hash_partitions.row_hash(self.key.types, row)
            if hashed is None:
                return None
            found = found.meet(
                Step(
                    frozenset(
                        p
                        for p, (modulus, remainder) in self.hashes.items()
                        if hash_partitions.holds(modulus, remainder, hashed)
                    )
                )
            )
        return found

    def values_step(self, values: Values) -> Step:
        regions = frozenset(r for r, own in self.regions.items() if not is_empty(meet(values, own)))
        if self.key.strategy == "r":
            return Step(regions)
        needs_default = isinstance(values, Interval) or not values <= self.listed
        return Step(regions, needs_default and self.default is not None)

    def partitions(self, step: Step) -> set[str]:
        held = set(self.held) | set(self.hashes) | set(self.offsets.values())
        out = {r for r in step.regions if r in held}
        if step.null and self.null is not None:
            out.add(self.null)
        gap = self.key.strategy == "r" and bool(step.regions - held)
        if self.default is not None and (step.default or gap):
            out.add(self.default)
        return out


def _conjunction(space: _Space, items: list[KeyTest | AnyOf], *, top: bool) -> Any:
    """The step of conditions ANDed (a Step, NO_STEP, CONTRADICTION, or None: not
    computed here)."""
    steps: list[Any] = []
    clauses: dict[str, list[str]] = {}  # each key column's conditions (not IN lists)
    equal: dict[str, set[Any]] = {}  # each key column's = constants
    whole: dict[str, list[Any]] = {}  # by_rows: each key column's = constants, None: IS NULL
    for item in items:
        if isinstance(item, AnyOf):
            steps.append(_disjunction(space, item))
            continue
        if item.column not in space.key.columns:
            continue
        values = space.read(item)
        if values is None:
            return None
        if values == [SKIP]:
            continue
        if item.op == "=" and len(values) > 1:  # an IN list is a step of its own: an OR
            arms = tuple((KeyTest(item.column, "=", (v,)),) for v in item.values)
            steps.append(_disjunction(space, AnyOf(arms)))
            continue
        clauses.setdefault(item.column, []).append(item.op)
        if item.op == "=":
            equal.setdefault(item.column, set()).update(values)
        if space.by_rows and item.op in ("=", "is null"):
            whole.setdefault(item.column, []).extend(values or [None])
        elif space.by_rows and space.key.strategy == "r":
            return None  # a comparison on a RANGE key of several columns: not computed here
        elif not space.by_rows:
            steps.append(space.leaf(item, values))
    if None in steps:
        return None
    if any("is null" in ops and len(ops) > 1 for ops in clauses.values()):
        return CONTRADICTION  # strict operators: partprune.c, "contradicting IS NULL"
    if CONTRADICTION in steps or (top and any(len(v) > 1 for v in equal.values())):
        return CONTRADICTION
    nulls = any(None in values for values in whole.values())
    if whole and (len(whole) == len(space.key.columns) or (nulls and space.key.strategy == "r")):
        # Every key column is known: one step for each combination of their values
        # (get_steps_using_prefix); with a column unknown, none (HASH: no pruning; RANGE:
        # a prefix, not computed here), unless a RANGE column IS NULL (the default only).
        per_column = [whole.get(c or "", [None]) for c in space.key.columns]
        steps.append(space.by_values(list(itertools.product(*per_column))))
        if None in steps:
            return None
    elif whole and space.key.strategy == "r":
        return None
    found = [s for s in steps if s is not NO_STEP]
    if not found:
        return NO_STEP
    result = found[0]
    for step in found[1:]:
        result = result.meet(step)
    return result


def _disjunction(space: _Space, either: AnyOf) -> Any:
    result: Step | None = None
    contradicts = True
    for arm in either.arms:
        step = _conjunction(space, list(arm), top=False)
        if step is None:
            return None
        if step is CONTRADICTION:
            continue  # PostgreSQL ignores a self-contradictory arm
        contradicts = False
        if step is NO_STEP:
            refuted = space.refutes(arm)
            if refuted is None:
                return None
            if refuted:
                continue  # its rows are in no partition of this table
            step = space.everything()
        result = step if result is None else result.join(step)
    if contradicts:
        return CONTRADICTION
    return NO_STEP if result is None else result


def kept(
    key: PartitionKey, bounds: dict[str, PartitionBound], rows: RowFilter, within: Within
) -> set[str] | None:
    """Which of ``bounds``'s partitions the planner keeps for ``rows``; None when that
    cannot be told. ``within``: what the partitioned table's own bound and its ancestors'
    allow, which PostgreSQL adds to the query's conditions on the table when it has a
    default partition and the query has any (partprune.c, gen_partprune_steps: "it's
    possible that the hierarchy allows the parent a narrower range of values than some
    of its partitions (particularly the default one)"; prune_append_rel_partitions
    keeps every partition when there are no conditions)."""
    columns = set(key.columns)
    if None in columns or "*" in rows.named:
        return None
    tests = [t for t in rows.tests if t.column in columns]
    ors = [e for e in rows.either if columns & {t.column for t in e.tests()}]
    if columns & rows.named or ((tests or ors) and columns & rows.sets):
        return None
    default = next((p for p, b in bounds.items() if b.default), None)
    if not tests and not ors and (default is None or not within):
        return set(bounds)
    space = _Space(key, bounds, rows, within)
    if not space.readable:
        return None
    top = _conjunction(space, [*tests, *ors], top=True)
    if top is None:
        return None
    if top is CONTRADICTION:
        return set()
    if top is NO_STEP and (default is None or not within):
        return set(bounds)
    steps = [] if top is NO_STEP else [top]
    if default is not None and space.by_rows and within:
        return None  # a RANGE key of several columns below another: its bounds not read
    if default is not None:
        null = any(t.op == "is null" for t in tests)
        for their_column, values, _ in within:
            if their_column is None or (their_column == space.column and values is None):
                return None
            if their_column == space.column and values is not None:
                if null:
                    return None  # the parent's bound says IS NOT NULL, or IS NULL OR ...
                steps.append(space.values_step(values))
    result = space.everything()  # no step: every partition (get_matching_partitions)
    for step in steps:
        result = result.meet(step)
    out = space.partitions(result)
    if (
        top is NO_STEP
        and {t.column for t in rows.tests} <= rows.unsure
        and not rows.either
        and out != set(bounds)
    ):
        # Only the bounds prune here, and only if the query has conditions on the table
        # (baserestrictinfo): whether the WHERE's other conjuncts are is not told here.
        return None
    return out


def _allowed(op: str, values: list[Any]) -> Values:
    """The values a comparison lets through."""
    if op == "=":
        return frozenset(values)
    if op in ("<", "<="):
        return Interval(high=values[0], high_in=op == "<=")
    return Interval(low=values[0], low_in=op == ">=")


def _gaps(held: dict[str, Values]) -> dict[str, Interval]:
    """The stretches of values between (and around) RANGE partitions' bounds that no
    partition holds (a default partition's, if there is one), by made-up names."""
    spans = sorted(
        (v for v in held.values() if isinstance(v, Interval)),
        key=lambda v: (v.low is not None, v.low),
    )
    gaps: dict[str, Interval] = {}
    end: Any = None  # where the values held so far end; None: below everything
    for position, span in enumerate(spans):
        if span.low is not None and (position == 0 or end != span.low):
            gaps[f" gap {position}"] = Interval(end, position > 0, span.low, False)
        end = span.high
        if end is None:
            return gaps
    gaps[" gap end"] = Interval(end, True, None, False)
    return gaps
