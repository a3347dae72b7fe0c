"""What a query's conditions say about each table it plans, joins and MERGE included.

``partition_pruning.kept`` decides a partitioned table's partitions from a ``RowFilter``;
this module builds one for every table a statement's queries read or change (each
``RangeVar``, by the identity of its parse-tree node), level by level (a subquery, a CTE,
a MERGE's source query are levels of their own), as PostgreSQL 15's planner sees them:

- the conditions of a level are its WHERE's conjuncts and the ``ON`` of its inner joins
  (and a MERGE's ``ON``): those on one table's columns are that table's restrictions
  (``baserestrictinfo``), the ones plan-time pruning uses;
- ``a.x = b.y`` puts both columns in one equivalence class, and a constant one member is
  equal to (``b.y = 5``) is derived for every member (``a.x = 5``; optimizer/README,
  "EquivalenceClasses"): such a key is known through the join and prunes;
- an OR of one table's columns is a restriction of that table: what every arm says is
  read as the level's own conjuncts (``or_clauses``, as canonicalize_qual pulls it out),
  and the arms' tests are the table's ``AnyOf``; an OR of several tables' columns is a
  join clause (the planner may extract restrictions from it): its columns are named;
- a comparison with a scalar subquery is a ``Param`` at plan time (an InitPlan or
  SubPlan): it prunes nothing (ddl-partitioning.html: pruning at plan time uses the values
  "known during query planning"), and the subquery's own tables are its own level's;
- a MERGE with ``WHEN NOT MATCHED`` joins the source to the target with a LEFT JOIN (the
  target is the nullable side: ``transformMergeStmt``): the ``ON`` conditions on the
  target alone still restrict it, nothing restricts the source, and no constant is derived
  through the join; without it, the join is an inner join;
- a level with an outer join, a qualified column whose table is unknown, or a column
  without a table in a level of several tables (which table has it is not in the text)
  leaves the tables it may belong to unsettled: their filter names the column, and
  ``kept`` says it cannot tell when that column is the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from migrations_ops.pg import or_clauses
from migrations_ops.pg.partition_pruning import AnyOf, KeyTest, RowFilter, conjuncts, key_tests
from migrations_ops.pg.sql_names import json_objects, raw_json

_LEVELS = ("SelectStmt", "UpdateStmt", "DeleteStmt", "MergeStmt")


@dataclass
class _Member:
    table: dict[str, Any]  # the RangeVar's JSON
    names: set[str]  # its alias, or its name (and schema.name)
    tests: list[KeyTest] = field(default_factory=list)
    named: set[str] = field(default_factory=set)
    unsure: set[str] = field(default_factory=set)
    either: list[AnyOf] = field(default_factory=list)
    query: bool = False  # a subquery, a CTE or a function: its values come from inside


def filters(node: Any) -> dict[int, RowFilter | None]:
    """``id(RangeVar JSON)`` -> its filter, for every table the statement's queries plan
    (None: its level is not read here, its partitions are left to a lock note)."""
    out: dict[int, RowFilter | None] = {}
    # The queries of IN and EXISTS (pulled up as semi-joins), and those of a subquery in
    # FROM or a CTE the enclosing query has conditions on (pushed down into it, or pulled
    # up with it): what the outer query's conditions derive for their tables is not read.
    unread: set[int] = set()
    ctes = {
        item["ctename"]: item.get("ctequery")
        for item in json_objects(node)
        if "ctename" in item and "ctequery" in item
    }
    for item in json_objects(node):
        sub = item.get("SubLink")
        if type(sub) is dict and sub.get("subLinkType") != "EXPR_SUBLINK":
            unread |= {id(level) for level in json_objects(sub.get("subselect"))}
        for tag in _LEVELS:
            level = item.get(tag)
            if type(level) is not dict:
                continue
            found = _level(tag, level, set(ctes))
            if id(level) in unread:
                found = [(table, None) for table, _ in found]
            for table, rows in found:
                out[id(table)] = rows
                inner = table.get("subquery")
                if inner is None and not table.get("schemaname"):
                    inner = ctes.get(table.get("relname", ""))
                if inner is not None and (rows is None or rows.tests or rows.named or rows.either):
                    unread |= {id(level) for level in json_objects(inner)}
    return out


def _level(
    tag: str, level: dict[str, Any], ctes: set[str]
) -> list[tuple[dict[str, Any], RowFilter | None]]:
    """Each from-item of one query level (tables, CTE references, subqueries, functions)
    with the filter its conditions put on it."""
    members: list[_Member] = []
    quals: list[Any] = []
    outer = False
    sets: set[str] = set()

    def add(item: Any) -> None:
        nonlocal outer
        if not isinstance(item, dict):
            return
        if "RangeVar" in item or "relname" in item:
            table = item.get("RangeVar", item)
            alias = (table.get("alias") or {}).get("aliasname")
            names = {alias} if alias else {table["relname"]}
            cte = not table.get("schemaname") and table["relname"] in ctes
            members.append(_Member(table, names, query=cte))
        elif "RangeSubselect" in item or "RangeFunction" in item:
            query = item.get("RangeSubselect") or item["RangeFunction"]
            alias = (query.get("alias") or {}).get("aliasname")
            members.append(_Member(query, {alias} if alias else set(), query=True))
        elif "JoinExpr" in item:
            join = item["JoinExpr"]
            if join.get("jointype", "JOIN_INNER") != "JOIN_INNER" or join.get("usingClause"):
                outer = True  # USING / NATURAL merge columns: not read here either
            if join.get("isNatural"):
                outer = True
            add(join.get("larg"))
            add(join.get("rarg"))
            if join.get("quals"):
                quals.append(join["quals"])

    if tag == "SelectStmt":
        for item in level.get("fromClause") or ():
            add(item)
        quals.append(level.get("whereClause"))
    elif tag in ("UpdateStmt", "DeleteStmt"):
        add(level["relation"])
        for item in level.get("fromClause" if tag == "UpdateStmt" else "usingClause") or ():
            add(item)
        quals.append(level.get("whereClause"))
        if tag == "UpdateStmt":
            sets = {
                t["ResTarget"]["name"] for t in level.get("targetList") or () if "ResTarget" in t
            }
    else:
        add(level["relation"])
        target = members[0]
        inserts = any(
            w.get("MergeWhenClause", {}).get("commandType") == "CMD_INSERT"
            for w in level.get("mergeWhenClauses") or ()
        )
        sets = {
            t["ResTarget"]["name"]
            for w in level.get("mergeWhenClauses") or ()
            for t in w.get("MergeWhenClause", {}).get("targetList") or ()
            if "ResTarget" in t and w["MergeWhenClause"].get("commandType") == "CMD_UPDATE"
        }
        add(level.get("sourceRelation"))
        if inserts:
            # source LEFT JOIN target: the ON restricts only the target, with its own
            # columns; the source is unrestricted.
            restricted = _Level(members, tag)
            restricted.read(level.get("joinCondition"), equivalences=False)
            return [
                (m.table, restricted.filter(target, sets) if m is target else RowFilter())
                for m in members
            ]
        quals.append(level.get("joinCondition"))
    having = level.get("havingClause")
    if outer:
        return [(m.table, None) for m in members]
    reading = _Level(members, tag)
    for qual in quals:
        reading.read(qual)
    if having is not None:  # the planner may move a HAVING into the WHERE
        for member in members:
            member.named |= reading.columns(having, member)
    return [
        (member.table, reading.filter(member, sets if member is members[0] else set()))
        for member in members
    ]


class _Level:
    """The conjuncts of one query level, attributed to its tables."""

    def __init__(self, members: list[_Member], tag: str) -> None:
        self.members = members
        self.tag = tag
        self.classes: list[set[tuple[int, str]]] = []  # equivalence classes: (member, column)
        self.constants: list[KeyTest] = []  # (column "member:column") = constant, for classes
        # (a subquery's index, (another from-item's index, its column)) joined by "=".
        self.links: list[tuple[int, tuple[int, str]]] = []

    def owner(self, ref: dict[str, Any]) -> tuple[int | None, str] | None:
        """(index of the member, column) a ColumnRef names; (None, column) when it may be
        any member's; None when it is not one of this level's (an outer query's)."""
        parts = [f.get("String", {}).get("sval") for f in ref.get("fields", ())]
        if not parts or None in parts:
            return (None, "*")
        if len(parts) == 1:
            return (0 if len(self.members) == 1 else None, parts[0])
        if len(parts) > 3:
            return (None, parts[-1])
        qualifier = ".".join(parts[:-1])
        for index, member in enumerate(self.members):
            table = member.table
            full = f"{table.get('schemaname')}.{table.get('relname')}"
            if qualifier in member.names or (len(parts) == 3 and qualifier == full):
                return (index, parts[-1])
        return None

    def columns(self, node: Any, member: _Member) -> set[str]:
        """The columns of ``member`` an expression names (outside scalar subqueries)."""
        index = self.members.index(member)
        found: set[str] = set()
        for ref in _refs(node):
            owner = self.owner(ref)
            if owner is not None and owner[0] in (None, index):
                found.add(owner[1])
        return found

    def read(self, qual: Any, *, equivalences: bool = True) -> None:
        for conjunct in conjuncts(raw_json(qual)):
            self._conjunct(conjunct, equivalences=equivalences)

    def _conjunct(self, conjunct: Any, *, equivalences: bool = True) -> None:
        pair = _column_pair(conjunct)
        if equivalences and pair is not None:
            left, right = self.owner(pair[0]), self.owner(pair[1])
            if left and right and left[0] is not None and right[0] is not None:
                ends = ((left[0], left[1]), (right[0], right[1]))
                if any(self.members[i].query for i, _ in ends):
                    self._link(ends)
                else:
                    self._join(set(ends))
                return
        if not self._either(conjunct, equivalences) and not self._test(conjunct):
            self._name(conjunct)

    def _either(self, conjunct: Any, equivalences: bool) -> bool:
        """An OR whose columns are all one table's (a restriction of that table): the
        conjuncts common to its arms, read as the level's (or_clauses), and its arms'
        tests, for that table. An OR of several tables' columns is a join clause, left to
        ``_name`` (the planner may extract a restriction from it)."""
        if not or_clauses.is_or(conjunct):
            return False
        if any("SubLink" in item for item in json_objects(conjunct)):
            return False
        owners = {self.owner(ref) for ref in _refs(conjunct)}
        indexes = {owner[0] if owner else None for owner in owners}
        index = indexes.pop() if len(indexes) == 1 else None
        found = or_clauses.factored(conjunct) if index is not None else None
        if index is None or found is None:
            return False
        member = self.members[index]
        winners, arms = found
        either = self._arms(arms, member) if arms is not None else None
        if arms is not None and either is None:
            return False
        for winner in winners:
            self._conjunct(winner, equivalences=equivalences)
        if either is not None:
            member.either.append(either)
        return True

    def _arms(self, arms: list[list[Any]], member: _Member) -> AnyOf | None:
        """An OR's arms (or_clauses), each its conjuncts: a test, a nested OR, or (not
        read) the columns it names, which the planner may evaluate otherwise; None for a
        condition without a column, which the planner may fold."""
        found = []
        for arm in arms:
            items: list[KeyTest | AnyOf] = []
            for item in arm:
                if not self._arm_item(item, member, items):
                    return None
            found.append(tuple(items))
        return AnyOf(tuple(found))

    def _arm_item(self, item: Any, member: _Member, into: list[KeyTest | AnyOf]) -> bool:
        if or_clauses.is_or(item):
            nested = or_clauses.factored(item)
            if nested is None:
                return False
            winners, arms = nested
            either = self._arms(arms, member) if arms is not None else None
            if arms is not None and either is None:
                return False
            into += [either] if either is not None else []
            return all(self._arm_item(winner, member, into) for winner in winners)
        tests = key_tests(item, member.names)
        if tests is not None:
            into += tests
        elif not _compared_with_mutable(item):  # (which prunes nothing)
            named = self.columns(item, member)
            if not named:
                return False
            member.named |= named
        return True

    def _test(self, conjunct: Any) -> bool:
        """A comparison of one column with constants. An unqualified column in a join is
        the column of whichever table has it (PostgreSQL refuses an ambiguous one): a
        table's key column is its own, so the test is each table's, as a guess for the
        others (``RowFilter.unsure``)."""
        refs = _refs(conjunct)
        if len(refs) != 1:
            return False
        owner = self.owner(refs[0])
        if owner is None:
            return False
        index = owner[0]
        for at, member in enumerate(self.members):
            if index not in (None, at):
                continue
            tests = key_tests(conjunct, member.names)
            if tests is None:
                return False
            for test in tests:
                member.tests.append(test)
                if index is None:
                    member.unsure.add(test.column)
                elif test.op == "=" and len(test.values) == 1:
                    self.constants.append(KeyTest(f"{index}:{test.column}", "=", test.values))
        return True

    def _name(self, conjunct: Any) -> None:
        if _compared_with_subquery(conjunct) or _compared_with_mutable(conjunct):
            return  # not a constant at plan time: it prunes nothing
        for ref in _refs(conjunct):
            owner = self.owner(ref)
            if owner is None:
                continue
            index, column = owner
            targets = self.members if index is None else [self.members[index]]
            for member in targets:
                member.named.add(column)
        if _has_sublink(conjunct, ("ANY_SUBLINK", "EXISTS_SUBLINK", "ALL_SUBLINK")):
            # Pulled up as a semi-join: what its subquery's conditions derive is not read.
            for member in self.members:
                member.named |= self._correlated(conjunct, member)

    def _correlated(self, conjunct: Any, member: _Member) -> set[str]:
        """Columns of ``member`` a sublink's subquery names by its table's name."""
        found = set()
        for item in json_objects(conjunct):
            if "SubLink" in item:
                sub = item["SubLink"]
                for ref in json_objects(sub.get("subselect")):
                    fields = ref.get("fields") if "location" in ref else None
                    if fields and len(fields) == 2:
                        qualifier = fields[0].get("String", {}).get("sval")
                        if qualifier in member.names:
                            found.add(fields[1].get("String", {}).get("sval", "*"))
                if sub.get("subLinkType") != "EXISTS_SUBLINK" and sub.get("testexpr"):
                    found |= self.columns(sub["testexpr"], member)
                if sub.get("subselect", {}).get("SelectStmt", {}).get("whereClause"):
                    found.add("*")  # its conditions may derive the key's value
        return found

    def _link(self, ends: tuple[tuple[int, str], tuple[int, str]]) -> None:
        """A join of a subquery's (or CTE's) column with another from-item's: the
        subquery's own conditions may reach a table's column through it once the planner
        pulls the subquery up (the column is named: not read here), and the other side's
        conditions may reach into the subquery (``filter`` says so)."""
        for (index, column), other in (ends, ends[::-1]):
            member = self.members[index]
            if not member.query:
                member.named.add(column)
            self.links.append((index, other))

    def _join(self, pair: set[tuple[int, str]]) -> None:
        touching = [c for c in self.classes if c & pair]
        merged = set(pair).union(*touching)
        self.classes = [c for c in self.classes if not c & pair] + [merged]

    def filter(self, member: _Member, sets: set[str]) -> RowFilter:
        index = self.members.index(member)
        tests = list(member.tests)
        for klass in self.classes:
            mine = {column for i, column in klass if i == index}
            if not mine:
                continue
            keys = {f"{i}:{column}" for i, column in klass}
            for constant in self.constants:
                if constant.column in keys:
                    for column in mine:
                        via = tuple(
                            sorted(
                                (
                                    self.members[i].table.get("schemaname"),
                                    self.members[i].table.get("relname", ""),
                                    other,
                                )
                                for i, other in klass
                                if (i, other) != (index, column)
                            )
                        )
                        derived = KeyTest(column, "=", constant.values, via)
                        if derived not in tests:
                            tests.append(derived)
        named = set(member.named)
        for linked, (other, column) in self.links:
            if linked == index and any(t.column == column for t in self.members[other].tests):
                named.add("*")  # a condition reaches into the subquery through the join
        return RowFilter(
            tuple(tests),
            frozenset(named),
            frozenset(sets),
            frozenset(member.unsure),
            tuple(member.either),
        )


def _column_pair(conjunct: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """``a.x = b.y``: the two ColumnRefs."""
    expr = conjunct.get("A_Expr") if isinstance(conjunct, dict) else None
    if not expr or expr.get("kind") != "AEXPR_OP" or len(expr.get("name", ())) != 1:
        return None
    if expr["name"][0].get("String", {}).get("sval") != "=":
        return None
    left, right = expr.get("lexpr"), expr.get("rexpr")
    if isinstance(left, dict) and isinstance(right, dict) and "ColumnRef" in left:
        return (left["ColumnRef"], right["ColumnRef"]) if "ColumnRef" in right else None
    return None


def _refs(node: Any) -> list[dict[str, Any]]:
    """The ColumnRefs of an expression, outside its subqueries (their own level's)."""
    found = []
    stack = [raw_json(node)]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            if "SubLink" in item:
                sub = item["SubLink"]
                if sub.get("testexpr"):
                    stack.append(sub["testexpr"])
                continue
            if "ColumnRef" in item:
                found.append(item["ColumnRef"])
                continue
            stack.extend(v for v in item.values() if type(v) in (dict, list))
        elif type(item) is list:
            stack.extend(item)
    return found


def _has_sublink(node: Any, kinds: tuple[str, ...]) -> bool:
    return any(
        "SubLink" in item and item["SubLink"].get("subLinkType") in kinds
        for item in json_objects(node)
    )


def _compared_with_subquery(conjunct: Any) -> bool:
    """``column op (SELECT ...)``: a scalar subquery's value is a Param at plan time."""
    expr = conjunct.get("A_Expr") if isinstance(conjunct, dict) else None
    if not expr or expr.get("kind") != "AEXPR_OP":
        return False
    sides = [expr.get("lexpr"), expr.get("rexpr")]
    columns = [s for s in sides if isinstance(s, dict) and "ColumnRef" in s]
    subqueries = [
        s
        for s in sides
        if isinstance(s, dict) and s.get("SubLink", {}).get("subLinkType") == "EXPR_SUBLINK"
    ]
    return len(columns) == 1 and len(subqueries) == 1


# Functions that are not immutable (stable or volatile): an expression calling one is not
# folded to a constant when the query is planned (eval_const_expressions), so a comparison
# with it prunes nothing then (partprune.c, match_clause_to_partition_key: "When pruning
# in the planner, we only support pruning using comparisons to constants").
_MUTABLE = frozenset(
    {
        "now", "statement_timestamp", "transaction_timestamp", "clock_timestamp",
        "timeofday", "random", "current_setting", "nextval", "currval", "gen_random_uuid",
        "uuid_generate_v4",
    }
)  # fmt: skip
# The nodes such an expression may hold for that to be certain (no CASE or COALESCE,
# which could drop the call when folded).
_PLAIN = frozenset(
    {"FuncCall", "SQLValueFunction", "A_Const", "TypeCast", "A_Expr", "TypeName", "String",
     "Integer", "Float", "List"}
)  # fmt: skip


def _compared_with_mutable(conjunct: Any) -> bool:
    """``column op expression`` whose expression calls ``now()``, ``current_date``..."""
    expr = conjunct.get("A_Expr") if isinstance(conjunct, dict) else None
    if not expr or expr.get("kind") not in ("AEXPR_OP", "AEXPR_BETWEEN"):
        return False
    if expr["name"][0].get("String", {}).get("sval") not in ("=", "<", "<=", ">", ">=", "BETWEEN"):
        return False
    sides = [expr.get("lexpr"), expr.get("rexpr")]
    columns = [s for s in sides if isinstance(s, dict) and "ColumnRef" in s]
    others = [s for s in sides if not (isinstance(s, dict) and "ColumnRef" in s)]
    if len(columns) != 1 or len(others) != 1:
        return False
    mutable = False
    for item in json_objects(others[0]):
        for tag, inner in item.items():
            if not tag[:1].isupper() or not isinstance(inner, dict):
                continue
            if tag not in _PLAIN:
                return False
            if tag == "SQLValueFunction":
                mutable = True
            elif tag == "FuncCall":
                name = inner.get("funcname", [{}])[-1].get("String", {}).get("sval", "")
                mutable |= name.lower() in _MUTABLE
    return mutable
