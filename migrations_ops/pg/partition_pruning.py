"""What a query's WHERE says to PostgreSQL's plan-time pruning, and why it is not told.

PostgreSQL 15 locks, in the statement's mode, only the partitions that plan-time pruning
keeps (``expand_partitioned_rtentry`` opens each of ``live_parts``, what
``prune_append_rel_partitions`` returns; ddl-partitioning.html, "Partition Pruning":
pruning during planning uses the values "known during query planning"). What the text
can tell, ``query_filters`` reads from the WHERE into a ``RowFilter``: the conjuncts that
compare a column of the table with a constant (``=``, ``IN``, ``<``, ``<=``, ``>``,
``>=``, ``BETWEEN``, ``IS [NOT] NULL``), the ORs of the table's columns (``AnyOf``: each
arm's tests), and
every column the other conjuncts name. ``prune_steps.kept`` then decides, for one
partitioned table, which of its partitions the planner keeps, from the key and the bounds
(``PartitionKey``, ``PartitionBound``) ``target_facts`` read or the release's statements
write, or says it cannot (None), and ``why_not`` says why, in the release engineer's
words: a key the WHERE names otherwise (a function, a cast to another type, an OR of
several tables' columns), an expression key, a HASH key of a type not hashed here
(``hash_partitions``), a RANGE key of several columns compared otherwise than with ``=``
on each, a value that is not compared
exactly here (``key_values``: integers, dates, timestamps, uuids, enums and text under
its collation are, each as far as its type allows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from migrations_ops.pg import hash_partitions, key_values
from migrations_ops.pg.key_values import TYPE_NAMES, Constant, KeyCollation

MINVALUE = ("minvalue", "")
MAXVALUE = ("maxvalue", "")
_OPERATORS = {"=": "=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_FLIPPED = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


@dataclass(frozen=True)
class KeyTest:
    """One conjunct of a WHERE: ``column op value`` (``=`` with several values: ``IN``;
    ``is null`` and ``is not null``, without values)."""

    column: str
    op: str
    values: tuple[Constant, ...]
    # A value known through a join (an equivalence class): the other columns equal to it,
    # as (schema, table, column). It holds only if they compare without a cast (the same
    # type as the key): ``ReleaseCatalog.unpruned`` checks.
    via: tuple[tuple[str | None, str, str], ...] = ()


@dataclass(frozen=True)
class AnyOf:
    """An OR of one table's columns: each arm, its conjuncts (tests, or ORs within it).
    A conjunct that is not a test is not here: its columns are the filter's ``named``."""

    arms: tuple[tuple[KeyTest | AnyOf, ...], ...]

    def tests(self) -> list[KeyTest]:
        found: list[KeyTest] = []
        for arm in self.arms:
            for item in arm:
                found += [item] if isinstance(item, KeyTest) else item.tests()
        return found


@dataclass(frozen=True)
class RowFilter:
    """What a query's WHERE says about the rows of the table it changes or reads."""

    tests: tuple[KeyTest, ...] = ()
    # Columns the WHERE's other conjuncts name ("*": a whole row), of whatever table.
    named: frozenset[str] = frozenset()
    # Columns an UPDATE sets: a new key value moves the row to another partition.
    sets: frozenset[str] = frozenset()
    # Columns of tests that may be another table's (unqualified, in a join): they prune
    # when they are the key (a key column is the table's own), and tell nothing else.
    unsure: frozenset[str] = frozenset()
    # The WHERE's conjuncts that are ORs of this table's columns alone.
    either: tuple[AnyOf, ...] = ()

    def all_tests(self) -> list[KeyTest]:
        """Its tests, those under its ORs included."""
        return [*self.tests, *(t for e in self.either for t in e.tests())]


@dataclass(frozen=True)
class PartitionKey:
    strategy: str  # "r" range, "l" list, "h" hash (pg_partitioned_table.partstrat)
    columns: tuple[str | None, ...]  # None: an expression
    types: tuple[str, ...]  # pg_type.typname of each column ("" for an expression)
    # The collation of each column ("enum" types: "enum"); None where it has none.
    collations: tuple[KeyCollation | None, ...] = ()

    def collation(self) -> KeyCollation | None:
        return self.collations[0] if self.collations else None

    def column_type(self, column: str) -> tuple[str, KeyCollation | None]:
        """A key column's type and collation."""
        index = self.columns.index(column)
        return self.types[index], self.collations[index] if self.collations else None


@dataclass(frozen=True)
class PartitionBound:
    """A partition's ``FOR VALUES``, as ``pg_get_expr(relpartbound, oid)`` writes it."""

    default: bool = False
    values: tuple[Constant | None, ...] = ()  # LIST; None for NULL
    lower: tuple[Constant, ...] = ()  # RANGE, MINVALUE / MAXVALUE included
    upper: tuple[Constant, ...] = ()
    modulus: int = 0  # HASH: FOR VALUES WITH (MODULUS modulus, REMAINDER remainder)
    remainder: int = 0


def bound_from_spec(spec: Any) -> PartitionBound | None:
    """A ``PartitionBoundSpec`` (pglast) as a bound: a partition's ``FOR VALUES`` or
    ``DEFAULT``, as the target's catalog writes it or a release's statement does; None for
    values that are not plain constants (an expression, a function call)."""
    if spec is None:
        return None
    if spec.is_default:
        return PartitionBound(default=True)
    if spec.strategy == "h":
        modulus, remainder = int(spec.modulus or 0), int(spec.remainder or 0)
        if modulus <= 0 or not 0 <= remainder < modulus:
            return None
        return PartitionBound(modulus=modulus, remainder=remainder)
    if spec.strategy not in ("l", "r"):
        return None

    def constant(datum: Any) -> Constant | None:
        if datum.tag == "ColumnRef":
            word = str(datum.fields[-1].sval).lower()
            return MINVALUE if word == "minvalue" else MAXVALUE if word == "maxvalue" else None
        if datum.tag != "A_Const" or datum.isnull:
            return None
        if datum.ival is not None or "ival" in datum.json:
            return ("int", str(datum.ival.ival or 0))
        return ("string", str(datum.sval.sval)) if datum.sval is not None else None

    if spec.strategy == "l":
        datums = spec.listdatums or ()
        values = [None if d.tag == "A_Const" and d.isnull else constant(d) for d in datums]
        if any(v is None for d, v in zip(datums, values, strict=True) if not d.isnull):
            return None
        return PartitionBound(values=tuple(values))
    lower = tuple(constant(d) for d in spec.lowerdatums or ())
    upper = tuple(constant(d) for d in spec.upperdatums or ())
    if None in lower or None in upper:
        return None
    return PartitionBound(lower=lower, upper=upper)  # type: ignore[arg-type]


def key_from_spec(
    spec: Any, column_types: dict[str, str], collations: dict[str, str] | None = None
) -> PartitionKey:
    """A ``PARTITION BY`` (pglast ``PartitionSpec``) of a table the release creates, with
    its columns' types as written there (``column_types``: canonical names) and their
    ``COLLATE`` (``collations``). An expression, an operator class or a column whose type
    the statement does not give ("", as for LIKE or an inherited column) is left for
    ``kept`` to refuse; a text column's collation is "default" (the database's, which
    ``ReleaseCatalog`` knows) unless it names ``C`` or ``POSIX``."""
    columns: list[str | None] = []
    types: list[str] = []
    keyed: list[KeyCollation | None] = []
    for element in spec.partParams or ():
        name = str(element.name) if element.name else None
        columns.append(name)
        plain = name is not None and not element.opclass
        types.append(column_types.get(name or "", "") if plain else "")
        own = (collations or {}).get(name or "", "default")
        chosen = ".".join(str(n.sval) for n in element.collation or ()) or own
        order = "bytes" if chosen in ("C", "POSIX") else "" if chosen != "default" else "?"
        keyed.append(KeyCollation(chosen, order, chosen == own))
    # pglast gives the enum ("r") or, through its Node wrapper, its name.
    strategy = str(getattr(spec.strategy, "value", spec.strategy))
    strategy = _STRATEGIES.get(strategy, strategy)
    return PartitionKey(strategy, tuple(columns), tuple(types), tuple(keyed))


_STRATEGIES = {
    "PARTITION_STRATEGY_RANGE": "r", "PARTITION_STRATEGY_LIST": "l", "PARTITION_STRATEGY_HASH": "h",
}  # fmt: skip


def conjuncts(node: Any) -> list[Any]:
    """The conjuncts of an expression (pglast's JSON): its ANDs' arguments."""
    if node is None:
        return []
    inner = node.get("BoolExpr") if isinstance(node, dict) else None
    if inner and inner.get("boolop") == "AND_EXPR":
        return [c for arg in inner.get("args", ()) for c in conjuncts(arg)]
    return [node]


def _column(node: Any, own: set[str]) -> str | None:
    """The column of the table (``own``: its name or alias) a ColumnRef names."""
    ref = node.get("ColumnRef") if isinstance(node, dict) else None
    if not ref:
        return None
    parts = [f.get("String", {}).get("sval") for f in ref.get("fields", ())]
    if None in parts or len(parts) > 2 or (len(parts) == 2 and parts[0] not in own):
        return None
    return str(parts[-1])


def _constant(node: Any) -> Constant | None:
    if not isinstance(node, dict):
        return None
    if "TypeCast" in node:
        cast = node["TypeCast"]
        names = [n.get("String", {}).get("sval") for n in cast["typeName"].get("names", ())]
        value = _constant(cast.get("arg"))
        if value is None or value[0] != "string" or cast["typeName"].get("arrayBounds"):
            return None
        return (TYPE_NAMES.get(str(names[-1]), "?"), value[1])
    if "CollateClause" in node:
        collate = node["CollateClause"]
        value = _constant(collate.get("arg"))
        names = [n.get("String", {}).get("sval") for n in collate.get("collname", ())]
        if value is None or value[0] != "string" or len(names) != 1:
            return None
        return (f"string@{names[0]}", value[1])
    const = node.get("A_Const")
    if not const or const.get("isnull"):
        return None
    if "ival" in const:
        return ("int", str(const["ival"].get("ival", 0)))
    if "sval" in const:
        return ("string", str(const["sval"].get("sval", "")))
    number = str(const.get("fval", {}).get("fval", ""))
    if number.lstrip("-").isdigit():
        return ("int", number)  # beyond int4: a bigint (or numeric beyond int8)
    return None  # a float, a bit string, a boolean: not compared here


def key_tests(node: Any, own: set[str]) -> list[KeyTest] | None:
    """``key_test``, and ``column BETWEEN a AND b`` as its two comparisons (the parser
    turns it into ``column >= a AND column <= b``)."""
    expr = node.get("A_Expr") if isinstance(node, dict) else None
    if expr and expr.get("kind") == "AEXPR_BETWEEN":
        column = _column(expr.get("lexpr"), own)
        items = expr.get("rexpr", {}).get("List", {}).get("items", ())
        values = [_constant(i) for i in items]
        if column is None or len(values) != 2 or None in values:
            return None
        low, high = values
        return [KeyTest(column, ">=", (low,)), KeyTest(column, "<=", (high,))]  # type: ignore[arg-type]
    test = key_test(node, own)
    return [test] if test is not None else None


def key_test(node: Any, own: set[str]) -> KeyTest | None:
    """``column op constant`` (or ``column IN (constants)``, ``column IS [NOT] NULL``) on
    a column of the table ``own`` names (its name or alias; an unqualified column counts),
    or None."""
    null = node.get("NullTest") if isinstance(node, dict) else None
    if null and not null.get("argisrow"):
        column = _column(null.get("arg"), own)
        if column is None:
            return None
        negated = null.get("nulltesttype") == "IS_NOT_NULL"
        return KeyTest(column, "is not null" if negated else "is null", ())
    expr = node.get("A_Expr") if isinstance(node, dict) else None
    if not expr or len(expr.get("name", ())) != 1:
        return None
    op = expr["name"][0].get("String", {}).get("sval")
    left, right = expr.get("lexpr"), expr.get("rexpr")
    if expr.get("kind") == "AEXPR_IN" and op == "=":
        column = _column(left, own)
        items = right.get("List", {}).get("items", ()) if isinstance(right, dict) else ()
        values = tuple(_constant(i) for i in items)
        if column is None or not values or None in values:
            return None
        return KeyTest(column, "=", values)  # type: ignore[arg-type]
    if expr.get("kind") != "AEXPR_OP" or op not in _OPERATORS:
        return None
    column, value = _column(left, own), _constant(right)
    if column is None:
        column, value, op = _column(right, own), _constant(left), _FLIPPED[op]
    if column is None or value is None:
        return None
    return KeyTest(column, op, (value,))


def why_not(key: PartitionKey | None, rows: RowFilter | None) -> str:
    """Why ``kept`` cannot tell which partitions the planner keeps, in the release
    engineer's words: what PostgreSQL decides when it plans the statement that the text
    and the catalog do not say."""
    if rows is None:
        return (
            "the query's conditions are not read here (an outer join, a USING join, a "
            "subquery under IN or EXISTS, or a subquery or CTE the enclosing query's "
            "conditions reach: the planner may carry conditions across them)"
        )
    if key is None:
        return "the partition key or a partition's bounds are not known here"
    if None in key.columns:
        return "the partition key is an expression"
    if "*" in rows.named:
        return "a condition names a whole row"
    for column in key.columns:
        if column in rows.sets:
            return (
                f"the statement sets the key column {column}: a moved row locks its new partition"
            )
        if column in rows.named:
            return (
                f"a condition uses the key column {column} in a form not evaluated here (a "
                "cast, a function, an OR of several tables' columns, a column of a subquery "
                "or of another table)"
            )
    if len(key.columns) > 1 and key.strategy == "r":
        return (
            "the RANGE partition key has several columns, compared here only with = (or "
            "IS NULL) on every one of them"
        )
    for index, (column, type_name) in enumerate(zip(key.columns, key.types, strict=True)):
        if key.strategy == "h" and not type_name:
            return (
                f"the HASH key {column} has an operator class that is not its type's "
                "default: its hash function is not known here"
            )
        if key.strategy == "h" and not hash_partitions.hashed(type_name):
            return (
                f"HASH partitions are chosen by hashing the values, which is not done here "
                f"for a {type_name} key (only integers, text, varchar and uuid)"
            )
        collation = key.collations[index] if key.collations else None
        if (
            key.strategy == "h"
            and type_name in ("text", "varchar")
            and not (collation and collation.order)
        ):
            return (
                f"the HASH key {column} has a nondeterministic collation "
                f"({collation.name if collation else '?'}): its values are hashed by their "
                "sort key, which is not computed here"
            )
    for test in rows.all_tests():
        if test.column not in key.columns or test.op in ("is null", "is not null"):
            continue
        column = test.column
        type_name, collation = key.column_type(column)
        for constant in test.values:
            if key_values.value(type_name, constant, collation) is None:
                if type_name == "timestamptz":
                    return (
                        f"{column} is a timestamptz compared with {constant[1]!r}, which has no "
                        "time zone: PostgreSQL reads it in the TimeZone of the session that "
                        "runs the migration"
                    )
                return f"{constant[1]!r} is not compared with {type_name} values here"
        ordered = key.strategy == "h" or key_values.ordered(type_name, collation)
        if test.op != "=" and not ordered:
            if type_name == "enum":
                return (
                    f"the enum {column} compares in the order its values were declared "
                    "(pg_enum), which is not read here"
                )
            return (
                f"the order of {column} is its collation's ({collation.name if collation else '?'}"
                "), which the server's C library or ICU version decides"
            )
    column = key.columns[0]
    type_name, collation = key.types[0], key.collation()
    if key.strategy == "r" and not key_values.ordered(type_name, collation):
        return (
            f"RANGE bounds of {column} are ordered by its collation "
            f"({collation.name if collation else '?'}), which the server's library decides"
        )
    return "a partition's bounds are not read here"
