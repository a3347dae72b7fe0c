"""Parse trees as libpg_query gives them (JSON, through pglast), and the names in them.

``parse`` returns each statement's tree as ``Node`` objects over libpg_query's JSON:
``node.tag`` is the node type (``"AlterTableStmt"``, ``"RangeVar"``...), fields are
attributes (``node.relation``, ``node.def_`` for ``def``), lists are tuples, a field the
JSON leaves out (false, 0, empty) is None. Reading the JSON is about ten times faster
than building pglast's own AST objects, which a 120-file release would feel; pglast's
AST is still used where a statement is turned back into SQL (``data_loss``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pglast import parser


class Node:
    """One parse tree node; see the module docstring."""

    # Neither is the name of a field in any node type (``kind`` and ``fields`` are).
    __slots__ = ("json", "tag")

    def __init__(self, tag: str, json: dict[str, Any]) -> None:
        self.tag = tag
        self.json = json

    def __getattr__(self, name: str) -> Any:
        return wrap(self.json.get(name.removesuffix("_")))

    def __repr__(self) -> str:
        return f"<{self.tag} {self.json}>"


def wrap(value: Any) -> Any:
    """JSON value -> Node / tuple / plain value."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, inner),) = value.items()
            if key[:1].isupper() and isinstance(inner, dict):
                if key == "List":
                    return tuple(wrap(item) for item in inner.get("items", ()))
                return Node(key, inner)
        # A field typed as one struct is not wrapped in its type's name; of those, only
        # RangeVar has "relname".
        return Node("RangeVar" if "relname" in value else "", value)
    if isinstance(value, list):
        return tuple(wrap(item) for item in value)
    return value


@dataclass(frozen=True)
class Parsed:
    node: Node
    location: int  # character offset of the statement in the text given


# The parse tree, as JSON and then Python objects, takes some 400 times the text's size:
# a longer statement (bundle content: a data migration's INSERT of megabytes) is not read.
MAX_PARSED_CHARS = 256 * 1024


def parse(text: str) -> list[Parsed]:
    """Every statement in ``text``; raises pglast's ParseError (message, character position),
    also for a text longer than MAX_PARSED_CHARS."""
    if len(text) > MAX_PARSED_CHARS:
        raise parser.ParseError(
            f"{len(text) // 1024} KB of SQL in one statement: statements over "
            f"{MAX_PARSED_CHARS // 1024} KB are not analysed",
            0,
        )
    tree = json.loads(parser.parse_sql_json(text))
    encoded = None
    out = []
    for item in tree.get("stmts", ()):
        location = item.get("stmt_location", 0)
        if location and not text.isascii():
            # libpg_query counts bytes; Python counts characters.
            encoded = encoded or text.encode()
            location = len(encoded[:location].decode(errors="ignore"))
        out.append(Parsed(wrap(item["stmt"]), location))
    return out


def walk(node: Any) -> Iterator[Node]:
    """Every node under ``node`` (itself included), depth first."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Node):
            yield item
            stack.extend(reversed(list(item.json.values())))
        elif isinstance(item, dict):
            stack.append(wrap(item))
        elif isinstance(item, list | tuple):
            stack.extend(reversed(item))


def names(items: Any) -> list[str]:
    """``(String('app'), String('members'))`` -> ``["app", "members"]``."""
    return [str(item.sval) for item in items or () if isinstance(item, Node)]


@dataclass(frozen=True)
class Relation:
    """A table, view or index as the SQL names it; ``schema`` is None when unqualified."""

    schema: str | None
    name: str

    @classmethod
    def from_range_var(cls, node: Any) -> Relation:
        return cls(node.schemaname or None, node.relname)

    @classmethod
    def from_names(cls, items: Any) -> Relation:
        parts = names(items)
        if len(parts) >= 2:
            return cls(parts[-2], parts[-1])
        return cls(None, parts[-1])

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name

    def qualified_in(self, schema: str) -> Relation:
        return self if self.schema else Relation(schema, self.name)


def raw_json(node: Any) -> Any:
    """``node`` (a pglast Node, or a list of them) as pglast's plain JSON, as stored."""
    if isinstance(node, Node):
        return {node.tag: node.json} if node.tag else node.json
    if isinstance(node, list | tuple):
        return [raw_json(item) for item in node]
    return node


def json_objects(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object under ``node``, in source order; fast (no Node objects)."""
    stack = [raw_json(node)]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            yield item
            stack.extend(v for v in reversed(item.values()) if type(v) in (dict, list))
        elif type(item) is list:
            stack.extend(reversed(item))


def referenced_relations(
    node: Any, *, skip: tuple[Any, ...] = (), inherited: bool = False
) -> list[Relation]:
    """Relations a query reads (``FROM``, joins, subqueries), without CTE names; with
    ``inherited``, only those named without ``ONLY``."""
    ranges = []
    ctes = set()
    for item in json_objects(node):
        if "relname" in item and (item.get("inh") or not inherited):  # only a RangeVar
            ranges.append(item)
        elif "ctename" in item:
            ctes.add(item["ctename"])
    skipped = {id(s.json) for s in skip if isinstance(s, Node)}
    found: list[Relation] = []
    for item in ranges:
        if id(item) in skipped or (not item.get("schemaname") and item["relname"] in ctes):
            continue
        relation = Relation(item.get("schemaname") or None, item["relname"])
        if relation not in found:
            found.append(relation)
    return found


def lone_range_var(node: Any) -> Any:
    """The table a plain ``SELECT ... FROM table`` reads, when it reads no other (no join,
    no subquery over a table, no CTE, no UNION); None otherwise."""
    if not isinstance(node, Node) or node.tag != "SelectStmt" or node.withClause or node.larg:
        return None
    ranges = [item for item in json_objects(node) if "relname" in item]
    from_clause: tuple[Any, ...] = node.fromClause or ()
    if len(ranges) != 1 or len(from_clause) != 1 or from_clause[0].tag != "RangeVar":
        return None
    return from_clause[0]


def has_quals(node: Any) -> bool:
    """Whether a query filters rows anywhere: a ``WHERE``, a join's ``ON``, MERGE's ``ON``,
    a ``HAVING`` (which the planner moves into the WHERE when it names no aggregate): the
    clauses the planner prunes partitions with."""
    return any(
        item.get("whereClause")
        or item.get("quals")
        or item.get("joinCondition")
        or item.get("havingClause")
        for item in json_objects(node)
    )


def function_names(node: Any) -> list[str]:
    """Names of the functions an expression calls (``nextval``, ``extensions.uuid_generate_v4``)."""
    out = []
    for item in json_objects(node):
        call = item.get("FuncCall")
        if type(call) is dict:
            parts = [part["String"].get("sval", "") for part in call.get("funcname", [])]
            out.append(".".join(parts))
    return out


# Canonical names for the types the analysis reasons about (pg_type.typname).
_TYPE_ALIASES = {
    "int": "int4",
    "integer": "int4",
    "int4": "int4",
    "smallint": "int2",
    "int2": "int2",
    "bigint": "int8",
    "int8": "int8",
    "serial": "int4",
    "serial4": "int4",
    "bigserial": "int8",
    "serial8": "int8",
    "smallserial": "int2",
    "serial2": "int2",
    "varchar": "varchar",
    "character varying": "varchar",
    "char": "bpchar",
    "character": "bpchar",
    "bpchar": "bpchar",
    "text": "text",
    "numeric": "numeric",
    "decimal": "numeric",
    "real": "float4",
    "float4": "float4",
    "double precision": "float8",
    "float8": "float8",
    "float": "float8",
    "timestamp": "timestamp",
    "timestamptz": "timestamptz",
    "date": "date",
    "time": "time",
    "timetz": "timetz",
    "bool": "bool",
    "boolean": "bool",
    "uuid": "uuid",
    "json": "json",
    "jsonb": "jsonb",
}


@dataclass(frozen=True)
class TypeSpec:
    """A column type: canonical name (``int8``, ``varchar``...), modifiers, and as written."""

    name: str
    modifiers: tuple[int, ...] = ()
    array: bool = False
    written: str = ""

    @classmethod
    def from_type_name(cls, node: Any) -> TypeSpec:
        parts = names(node.names)
        base = parts[-1].lower()
        canonical = _TYPE_ALIASES.get(base, base)
        modifiers: list[int] = []
        for mod in node.typmods or ():
            if mod.tag == "A_Const" and mod.ival is not None:
                modifiers.append(int(mod.ival.ival or 0))
        shown = parts[-1] if parts[0] == "pg_catalog" else ".".join(parts)
        if modifiers:
            shown += "(" + ",".join(str(m) for m in modifiers) + ")"
        array = bool(node.arrayBounds)
        if array:
            shown += "[]"
        return cls(canonical, tuple(modifiers), array, shown)

    @classmethod
    def from_catalog(cls, typname: str, typmod: int, written: str) -> TypeSpec:
        """From ``pg_type.typname`` and ``pg_attribute.atttypmod`` (arrays: ``_int4``)."""
        array = typname.startswith("_")
        name = typname[1:] if array else typname
        modifiers: tuple[int, ...] = ()
        if typmod >= 0 and name in ("varchar", "bpchar"):
            modifiers = (typmod - 4,)
        elif typmod >= 4 and name == "numeric":
            value = typmod - 4
            modifiers = ((value >> 16) & 0xFFFF, value & 0xFFFF)
        return cls(name, modifiers, array, written)

    def __str__(self) -> str:
        return self.written or self.name
