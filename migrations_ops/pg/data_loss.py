"""What a statement may destroy, and the read-only queries that count it on the target.

Four kinds, each counted by a query this module builds (never by running the migration's
own text, except a ``DELETE``'s ``WHERE`` that passes ``where_is_safe``):

- ``table_rows``: ``DROP TABLE`` and ``TRUNCATE`` lose every row: ``count(*)``;
- ``column_values``: ``DROP COLUMN`` loses the column's non-null values: ``count(col)``;
- ``type_change``: a narrowing ``ALTER COLUMN TYPE`` loses (or fails on) the values that
  do not fit the new type: ``count(*) WHERE <does not fit>``, from ``narrowing_predicate``;
- ``delete_rows``: ``DELETE`` loses the rows its ``WHERE`` matches: the same ``WHERE``
  as a ``SELECT count(*)``, built from the parse tree, when it only uses columns,
  constants, operators and the side-effect-free functions in ``SAFE_FUNCTIONS``. Any other
  ``WHERE`` is bundle code, and bundle code never runs on a target; the count then
  comes from the scratch copy (the rows the DELETE removed there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pglast import ast, parse_sql
from pglast.enums import CmdType, JoinType, MergeMatchKind
from pglast.stream import RawStream
from psycopg import sql

from migrations_ops.pg.sql_names import Node, Relation, TypeSpec, names, walk

TABLE_ROWS = "table_rows"
COLUMN_VALUES = "column_values"
TYPE_CHANGE = "type_change"
DELETE_ROWS = "delete_rows"


@dataclass
class Loss:
    kind: str
    relation: Relation
    column: str | None = None
    new_type: TypeSpec | None = None
    statement: str | None = None  # a DELETE's text, to count the rows it matches
    using: bool = False  # a type change's USING: its expression decides what survives
    not_counted: str | None = None  # why the target is not asked

    @property
    def unit(self) -> str:
        return "non-null values" if self.kind in (COLUMN_VALUES, TYPE_CHANGE) else "rows"


@dataclass
class CountQuery:
    """``SELECT count(*) ...`` for one loss; ``sampled`` builds it over a TABLESAMPLE."""

    loss: Loss
    exact: sql.Composable
    sampled: Any  # (percent: float) -> sql.Composable
    notes: list[str] = field(default_factory=list)


# Functions a DELETE's WHERE may call for the count to run on the target: no side effects,
# no access outside the row (pg_catalog builtins only, by name, unqualified or pg_catalog).
SAFE_FUNCTIONS = frozenset(
    {
        "abs", "age", "btrim", "char_length", "character_length", "coalesce", "date_part",
        "date_trunc", "extract", "greatest", "least", "length", "lower", "ltrim", "make_date",
        "make_interval", "now", "nullif", "octet_length", "position", "round", "rtrim",
        "split_part", "starts_with", "statement_timestamp", "strpos", "substr", "substring",
        "to_date", "to_timestamp", "transaction_timestamp", "trim", "trunc", "upper",
        "array_length", "cardinality", "jsonb_typeof", "json_typeof", "floor", "ceil",
    }
)  # fmt: skip
_SAFE_NODES = frozenset(
    {
        "A_Const", "A_Expr", "BoolExpr", "NullTest", "BooleanTest", "ColumnRef", "TypeCast",
        "TypeName", "String", "Integer", "Float", "Boolean", "BitString", "A_ArrayExpr",
        "RowExpr", "SubLink", "SelectStmt", "RangeVar", "ResTarget", "Alias", "JoinExpr",
        "CaseExpr", "CaseWhen", "CoalesceExpr", "MinMaxExpr", "SQLValueFunction", "FuncCall",
        "A_Star", "A_Indirection", "A_Indices", "SortBy",
        "",  # a field typed as one struct (a TypeName, an Alias): its own nodes are checked
    }
)  # fmt: skip


def where_is_safe(node: Any) -> str | None:
    """None when the expression may run on a target; else why not ("calls foo()")."""
    for n in walk(node):
        if n.tag == "FuncCall":
            parts = names(n.funcname)
            if len(parts) > 2 or (len(parts) == 2 and parts[0] != "pg_catalog"):
                return f"it calls {'.'.join(parts)}()"
            if parts[-1].lower() not in SAFE_FUNCTIONS:
                return f"it calls {parts[-1]}()"
        elif n.tag == "SelectStmt" and (n.withClause or n.lockingClause):
            return "it has a WITH or FOR UPDATE clause"
        elif n.tag not in _SAFE_NODES:
            return f"it uses {n.tag}"
    return None


def delete_loss(node: Node, table: Relation, text: str) -> Loss:
    loss = Loss(DELETE_ROWS, table, statement=text)
    if node.withClause is not None:
        loss.not_counted = "the DELETE has a WITH clause, which the portal does not run on a target"
    elif node.whereClause is not None:
        why = where_is_safe(node.whereClause)
        if why is None and node.usingClause:
            why = where_is_safe(node.usingClause)
        if why:
            loss.not_counted = (
                f"its WHERE is not counted on the target because {why}: bundle code never "
                "runs there"
            )
    return loss


def merge_loss(node: Node, table: Relation, text: str) -> Loss | None:
    """The rows a MERGE's ``WHEN MATCHED ... THEN DELETE`` removes: a target row joined
    to a source row by the ``ON``, whose first ``WHEN MATCHED`` clause with a true
    condition deletes (sql-merge.html: "If the WHEN clause is ... MATCHED ... the first
    clause whose condition is true is executed"). None when no clause deletes, or one
    without a condition comes before every DELETE."""
    reachable = False
    for clause in node.mergeWhenClauses or ():
        if clause.matchKind not in (None, "MERGE_WHEN_MATCHED"):
            continue
        if clause.commandType == "CMD_DELETE":
            reachable = True
            break
        if clause.condition is None:
            break
    if not reachable:
        return None
    loss = Loss(DELETE_ROWS, table, statement=text)
    if node.withClause is not None:
        loss.not_counted = "the MERGE has a WITH clause, which the portal does not run on a target"
        return loss
    parts = [node.joinCondition, node.sourceRelation]
    parts += [c.condition for c in node.mergeWhenClauses or () if c.condition is not None]
    for part in parts:
        why = where_is_safe(part)
        if why:
            loss.not_counted = (
                f"the rows it deletes are not counted on the target because {why}: bundle "
                "code never runs there"
            )
            break
    return loss


def _merge_deletes(merge: Any) -> Any:
    """A condition true for the joined rows the MERGE deletes: ``CASE WHEN <first
    clause's condition> THEN <it deletes> ... ELSE false END`` over its WHEN MATCHED
    clauses, in their order (the first true one is the one that runs)."""
    whens = []
    for clause in merge.mergeWhenClauses or ():
        if clause.matchKind != MergeMatchKind.MERGE_WHEN_MATCHED:
            continue
        deletes = ast.A_Const(val=ast.Boolean(clause.commandType == CmdType.CMD_DELETE))
        condition = clause.condition or ast.A_Const(val=ast.Boolean(True))
        whens.append(ast.CaseWhen(expr=condition, result=deletes))
    return ast.CaseExpr(args=tuple(whens), defresult=ast.A_Const(val=ast.Boolean(False)))


def _count_of(delete: Any, relation: Any, *, distinct_ctid: bool) -> str:
    """``SELECT count(*) FROM <relation> [, using...] [WHERE ...]`` from the DELETE's tree."""
    if distinct_ctid:
        alias = (
            delete.relation.alias.aliasname if delete.relation.alias else delete.relation.relname
        )
        target = ast.FuncCall(
            funcname=(ast.String("count"),),
            args=(ast.ColumnRef(fields=(ast.String(alias), ast.String("ctid"))),),
            agg_distinct=True,
        )
    else:
        target = ast.FuncCall(funcname=(ast.String("count"),), agg_star=True)
    if isinstance(delete, ast.MergeStmt):
        joined = ast.JoinExpr(
            jointype=JoinType.JOIN_INNER,
            larg=relation,
            rarg=delete.sourceRelation,
            quals=delete.joinCondition,
        )
        select = ast.SelectStmt(
            targetList=(ast.ResTarget(val=target),),
            fromClause=(joined,),
            whereClause=_merge_deletes(delete),
        )
    else:
        select = ast.SelectStmt(
            targetList=(ast.ResTarget(val=target),),
            fromClause=(relation, *(delete.usingClause or ())),
            whereClause=delete.whereClause,
        )
    return str(RawStream()(select))


def delete_count(loss: Loss, qualified: Relation) -> tuple[str, Any]:
    """The DELETE's (or MERGE's, ``merge_loss``) count, exact and sampled (``percent ->
    text``), on ``qualified``."""
    assert loss.statement is not None and qualified.schema is not None
    delete: Any = parse_sql(loss.statement)[0].stmt  # pglast's AST, to write SQL back
    base = delete.relation
    relation = ast.RangeVar(
        schemaname=qualified.schema,
        relname=qualified.name,
        inh=base.inh,
        relpersistence="p",
        alias=base.alias,
    )
    # A row joined to several others is counted once (a MERGE refuses that, but counts).
    distinct = isinstance(delete, ast.MergeStmt) or bool(delete.usingClause)

    def sampled(percent: float) -> str:
        sample = ast.RangeTableSample(
            relation=relation,
            method=(ast.String("system"),),
            args=(ast.A_Const(val=ast.Float(f"{percent:.6f}")),),
            repeatable=ast.A_Const(val=ast.Integer(7)),
        )
        return _count_of(delete, sample, distinct_ctid=distinct)

    return _count_of(delete, relation, distinct_ctid=distinct), sampled


FITS = "every value fits"
SAME_TYPE = "same type: nothing changes"


def keeps_every_value(old: TypeSpec, new: TypeSpec) -> bool:
    """Whether ``old`` -> ``new`` (without USING) keeps every value: a widening change.

    Such a change destroys nothing, so it is no loss to count or to list in the ledger
    (which said "not counted" under "destroys" beside "every value fits"). A change this
    module does not know to check is still listed, as not counted.
    """
    predicate, what = narrowing_predicate(sql.Identifier("_"), old, new)
    return predicate is None and (what == SAME_TYPE or what.startswith(f"{old} to {new}: {FITS}"))


_INT_RANGE = {
    "int2": (-32768, 32767),
    "int4": (-2147483648, 2147483647),
    "int8": (-9223372036854775808, 9223372036854775807),
}
_TEXT = ("text", "varchar", "bpchar")


def narrowing_predicate(
    column: sql.Composable, old: TypeSpec, new: TypeSpec
) -> tuple[sql.Composable | None, str]:
    """``(predicate, what)``: the non-null values that do not survive ``old`` -> ``new``.

    ``predicate`` is None when nothing is lost (``what`` says why) or when the change is
    not one this module knows to check (``what`` says so).
    """
    if old.array or new.array:
        return None, f"{old} to {new}: array element changes are not checked"
    if old.name == new.name and old.modifiers == new.modifiers:
        return None, SAME_TYPE
    if new.name == "text" or (new.name == "varchar" and not new.modifiers and old.name in _TEXT):
        return None, f"{old} to {new}: {FITS}"
    if new.name in ("varchar", "bpchar") and new.modifiers:
        limit = new.modifiers[0]
        if old.name in ("varchar", "bpchar") and old.modifiers and old.modifiers[0] <= limit:
            return None, f"{old} to {new}: {FITS}"
        value = column if old.name in _TEXT else sql.SQL("{}::text").format(column)
        return (
            sql.SQL("char_length({}) > {}").format(value, sql.Literal(limit)),
            f"values longer than {limit} characters",
        )
    if new.name in _INT_RANGE:
        low, high = _INT_RANGE[new.name]
        if old.name in _INT_RANGE:
            old_low, old_high = _INT_RANGE[old.name]
            if old_low >= low and old_high <= high:
                return None, f"{old} to {new}: {FITS}"
            return (
                sql.SQL("{} NOT BETWEEN {} AND {}").format(
                    column, sql.Literal(low), sql.Literal(high)
                ),
                f"values outside {new}'s range",
            )
        if old.name in ("numeric", "float4", "float8"):
            return (
                sql.SQL("({c} NOT BETWEEN {lo} AND {hi} OR {c} <> round({c}))").format(
                    c=column, lo=sql.Literal(low), hi=sql.Literal(high)
                ),
                f"fractions (rounded away) and values outside {new}'s range",
            )
    if new.name == "numeric":
        if not new.modifiers:
            if old.name in (*_INT_RANGE, "numeric"):
                return None, f"{old} to {new}: {FITS}"
            return None, f"{old} to {new}: not checked"
        precision, scale = new.modifiers[0], new.modifiers[1] if len(new.modifiers) > 1 else 0
        if old.name == "numeric" and old.modifiers:
            old_p, old_s = old.modifiers[0], old.modifiers[1] if len(old.modifiers) > 1 else 0
            if precision - scale >= old_p - old_s and scale >= old_s:
                return None, f"{old} to {new}: {FITS}"
        if old.name in (*_INT_RANGE, "numeric", "float4", "float8"):
            value = column if old.name == "numeric" else sql.SQL("{}::numeric").format(column)
            return (
                sql.SQL(
                    "({v} <> round({v}, {s}) OR abs(round({v}, {s})) >= 10::numeric ^ {d})"
                ).format(v=value, s=sql.Literal(scale), d=sql.Literal(precision - scale)),
                f"values rounded to {scale} decimals or too large for {new}",
            )
    if new.name == "float8" and old.name in ("int2", "int4", "float4"):
        return None, f"{old} to {new}: {FITS}"
    if new.name in ("float4", "float8") and old.name in (*_INT_RANGE, "numeric", "float8"):
        target = sql.SQL(new.name)
        return (
            sql.SQL(
                "(CASE WHEN abs({c}::float8) > 3.4e38 AND {t} = 'float4'::text THEN true "
                "ELSE {c}::numeric <> ({c}::{n})::numeric END)"
            ).format(c=column, n=target, t=sql.Literal(new.name)),
            f"values {new} cannot hold exactly",
        )
    if new.name == "date" and old.name in ("timestamp", "timestamptz"):
        return (
            sql.SQL("{c} <> date_trunc('day', {c})").format(c=column),
            "the time of day (dropped)",
        )
    if old.name == "date" and new.name in ("timestamp", "timestamptz"):
        return None, f"{old} to {new}: {FITS}"
    if old.name == "timestamp" and new.name == "timestamptz":
        return None, f"{old} to {new}: {FITS} (read in the session's time zone)"
    return None, f"{old} to {new}: whether every value survives is not checked"
