"""Names in a pglast parse tree: relations, types, functions, and a walk over every node."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pglast import ast


@dataclass(frozen=True)
class Relation:
    """A table, view or index as the SQL names it; ``schema`` is None when unqualified."""

    schema: str | None
    name: str

    @classmethod
    def from_range_var(cls, node: Any) -> Relation:
        return cls(node.schemaname or None, node.relname)

    @classmethod
    def from_names(cls, names: tuple[Any, ...] | list[Any]) -> Relation:
        """``(String('app'), String('members'))`` or ``(String('members'),)``."""
        parts = [n.sval for n in names]
        if len(parts) >= 2:
            return cls(parts[-2], parts[-1])
        return cls(None, parts[-1])

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name

    def qualified_in(self, schema: str) -> Relation:
        return self if self.schema else Relation(schema, self.name)


def walk(node: Any) -> Iterator[Any]:
    """Every node under ``node`` (itself included), depth first."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, ast.Node):
            yield item
            for attr in item:
                value = getattr(item, attr)
                if isinstance(value, ast.Node | tuple | list):
                    stack.append(value)
        elif isinstance(item, tuple | list):
            stack.extend(reversed(item))


def referenced_relations(node: Any, *, skip: tuple[Any, ...] = ()) -> list[Relation]:
    """Relations a query reads (``FROM``, joins, subqueries), without CTE names."""
    ctes = {
        cte.ctename for n in walk(node) if isinstance(n, ast.WithClause) for cte in n.ctes or ()
    }
    found: list[Relation] = []
    skipped = {id(s) for s in skip}
    for n in walk(node):
        if isinstance(n, ast.RangeVar) and id(n) not in skipped:
            if n.schemaname is None and n.relname in ctes:
                continue
            relation = Relation.from_range_var(n)
            if relation not in found:
                found.append(relation)
    return found


def function_names(node: Any) -> list[str]:
    """Names of the functions an expression calls (``nextval``, ``extensions.uuid_generate_v4``)."""
    names = []
    for n in walk(node):
        if isinstance(n, ast.FuncCall):
            names.append(".".join(part.sval for part in n.funcname or ()))
    return names


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
        parts = [n.sval for n in node.names]
        base = parts[-1].lower()
        canonical = _TYPE_ALIASES.get(base, base)
        modifiers: list[int] = []
        for mod in node.typmods or ():
            if isinstance(mod, ast.A_Const) and isinstance(mod.val, ast.Integer):
                modifiers.append(int(mod.val.ival or 0))
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
