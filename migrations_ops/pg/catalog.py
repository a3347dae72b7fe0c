"""What a database's schema is, read from pg_catalog, and what differs between two reads.

``snapshot(conn, schemas=[...])`` reads, for the given schemas: tables (kind, RLS flags,
columns with types, defaults and nullability, constraints), views, functions with their
signatures and definitions, policies (``pg_policies``), indexes, enums and other types,
triggers, and the extensions installed in those schemas. Objects that belong to an
extension are left out: they come with the extension, not with the migrations.

Noise is left out on purpose: owners, grants, OIDs, column order and catalog order.
Definitions come from PostgreSQL's own deparsers (``pg_get_functiondef``,
``pg_get_viewdef``, ``pg_get_indexdef``...) read with an empty ``search_path``, so names
are always schema-qualified and two databases that hold the same schema read the same.
Servers of different major versions may still deparse some expressions differently;
callers say so when the versions differ.

``diff(before, after)`` lists, per kind of object, what was added, removed and changed
(with the changed fields). Used by the dry run (what the migrations change), the drift
check (staging against a database built from the migrations), the fixtures check and
the rollback rehearsal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

CATEGORIES = (
    "tables",
    "views",
    "functions",
    "policies",
    "indexes",
    "types",
    "triggers",
    "extensions",
)
# Schemas PostgREST exposes by default on Supabase: a table there without RLS is open to
# anyone holding the anon key.
EXPOSED_SCHEMAS = ("public", "graphql_public")

_NOT_FROM_EXTENSION = """
    NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                WHERE d.classid = '{catalog}'::pg_catalog.regclass AND d.objid = {oid}
                  AND d.deptype = 'e')
"""

_TABLES = f"""
SELECT n.nspname, c.relname, c.relkind::text, c.relrowsecurity, c.relforcerowsecurity
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('r', 'p', 'f')
  AND {_NOT_FROM_EXTENSION.format(catalog="pg_catalog.pg_class", oid="c.oid")}
"""  # noqa: S608 (only constant fragments are interpolated)
_COLUMNS = """
SELECT n.nspname, c.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
       a.attnotnull, pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), a.attidentity::text,
       a.attgenerated::text
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('r', 'p', 'f')
  AND a.attnum > 0 AND NOT a.attisdropped
"""
_CONSTRAINTS = """
SELECT n.nspname, c.relname, con.conname, pg_catalog.pg_get_constraintdef(con.oid)
FROM pg_catalog.pg_constraint con
JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('r', 'p', 'f')
"""
_VIEWS = f"""
SELECT n.nspname, c.relname,
       CASE c.relkind WHEN 'm' THEN 'materialized view' ELSE 'view' END,
       pg_catalog.pg_get_viewdef(c.oid)
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('v', 'm')
  AND {_NOT_FROM_EXTENSION.format(catalog="pg_catalog.pg_class", oid="c.oid")}
"""  # noqa: S608 (only constant fragments are interpolated)
_FUNCTIONS = f"""
SELECT n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid),
       p.prokind::text, pg_catalog.pg_get_function_result(p.oid), l.lanname, p.prosecdef,
       p.provolatile::text,
       CASE WHEN p.prokind IN ('f', 'p') THEN pg_catalog.pg_get_functiondef(p.oid) END
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
JOIN pg_catalog.pg_language l ON l.oid = p.prolang
WHERE n.nspname = ANY(%(schemas)s)
  AND {_NOT_FROM_EXTENSION.format(catalog="pg_catalog.pg_proc", oid="p.oid")}
"""  # noqa: S608 (only constant fragments are interpolated)
_POLICIES = """
SELECT schemaname, tablename, policyname, permissive, roles::text[], cmd, qual, with_check
FROM pg_catalog.pg_policies WHERE schemaname = ANY(%(schemas)s)
"""
_INDEXES = f"""
SELECT n.nspname, i.relname, t.relname, pg_catalog.pg_get_indexdef(i.oid)
FROM pg_catalog.pg_index x
JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
JOIN pg_catalog.pg_class t ON t.oid = x.indrelid
JOIN pg_catalog.pg_namespace n ON n.oid = i.relnamespace
WHERE n.nspname = ANY(%(schemas)s)
  AND {_NOT_FROM_EXTENSION.format(catalog="pg_catalog.pg_class", oid="t.oid")}
"""  # noqa: S608 (only constant fragments are interpolated)
_TYPES = f"""
SELECT n.nspname, t.typname, t.typtype::text,
       ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum e
             WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder),
       CASE WHEN t.typtype = 'd'
            THEN pg_catalog.format_type(t.typbasetype, t.typtypmod) END,
       ARRAY(SELECT a.attname || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod)
             FROM pg_catalog.pg_attribute a
             WHERE t.typtype = 'c' AND a.attrelid = t.typrelid AND a.attnum > 0
               AND NOT a.attisdropped ORDER BY a.attnum),
       ARRAY(SELECT pg_catalog.pg_get_constraintdef(con.oid) FROM pg_catalog.pg_constraint con
             WHERE con.contypid = t.oid ORDER BY 1)
FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname = ANY(%(schemas)s) AND t.typtype IN ('e', 'd', 'c', 'r')
  AND (t.typtype <> 'c'
       OR (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid) = 'c')
  AND {_NOT_FROM_EXTENSION.format(catalog="pg_catalog.pg_type", oid="t.oid")}
"""  # noqa: S608 (only constant fragments are interpolated)
_TRIGGERS = """
SELECT n.nspname, c.relname, tg.tgname, pg_catalog.pg_get_triggerdef(tg.oid),
       tg.tgenabled::text
FROM pg_catalog.pg_trigger tg
JOIN pg_catalog.pg_class c ON c.oid = tg.tgrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND NOT tg.tgisinternal
"""
_EXTENSIONS = """
SELECT e.extname, n.nspname
FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
WHERE n.nspname = ANY(%(schemas)s)
"""


@dataclass
class Snapshot:
    """A database's schema: ``objects[category][qualified name] -> description``."""

    schemas: list[str]
    server_version: int  # server_version_num, e.g. 150020
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __getitem__(self, category: str) -> dict[str, Any]:
        return self.objects[category]

    def tables_without_rls(self, schemas: Sequence[str] | None = None) -> list[str]:
        """Tables (in ``schemas``, default all snapshotted ones) whose RLS is off."""
        wanted = set(schemas) if schemas is not None else set(self.schemas)
        return sorted(
            name
            for name, table in self.objects["tables"].items()
            if table["schema"] in wanted and not table["rls"]
        )

    def as_dict(self) -> dict[str, Any]:
        return {"schemas": self.schemas, "server_version": self.server_version, **self.objects}


def snapshot(conn: psycopg.Connection, *, schemas: Sequence[str]) -> Snapshot:
    """Read the schema of ``schemas``; only reads, in one consistent transaction."""
    params = {"schemas": list(schemas)}
    objects: dict[str, dict[str, Any]] = {c: {} for c in CATEGORIES}
    with conn.transaction():
        # Empty search_path: deparsed names are always schema-qualified, so two
        # databases with different search_path settings read alike.
        conn.execute("SELECT pg_catalog.set_config('search_path', '', true)")

        def rows(query: str) -> list[tuple[Any, ...]]:
            return conn.execute(query, params).fetchall()

        tables = objects["tables"]
        for schema, name, kind, rls, force in rows(_TABLES):
            tables[f"{schema}.{name}"] = {
                "schema": schema,
                "kind": {"r": "table", "p": "partitioned table", "f": "foreign table"}[kind],
                "rls": rls,
                "force_rls": force,
                "columns": {},
                "constraints": {},
            }
        for schema, table, column, type_, not_null, default, identity, generated in rows(_COLUMNS):
            if f"{schema}.{table}" in tables:
                tables[f"{schema}.{table}"]["columns"][column] = {
                    "type": type_,
                    "not_null": not_null,
                    "default": default,
                    "identity": identity or None,
                    "generated": generated or None,
                }
        for schema, table, name, definition in rows(_CONSTRAINTS):
            if f"{schema}.{table}" in tables:
                tables[f"{schema}.{table}"]["constraints"][name] = definition
        for schema, name, kind, definition in rows(_VIEWS):
            objects["views"][f"{schema}.{name}"] = {
                "kind": kind,
                "definition": _clean(definition),
            }
        for schema, name, args, kind, result, language, secdef, volatility, definition in rows(
            _FUNCTIONS
        ):
            objects["functions"][f"{schema}.{name}({args})"] = {
                "kind": {"f": "function", "p": "procedure", "a": "aggregate", "w": "window"}[kind],
                "returns": result,
                "language": language,
                "security_definer": secdef,
                "volatility": volatility,
                "definition": _clean(definition),
            }
        for schema, table, name, permissive, roles, command, using, check in rows(_POLICIES):
            objects["policies"][f"{schema}.{table}.{name}"] = {
                "table": f"{schema}.{table}",
                "command": command,
                "permissive": permissive,
                "roles": sorted(roles),
                "using": using,
                "check": check,
            }
        for schema, name, table, definition in rows(_INDEXES):
            objects["indexes"][f"{schema}.{name}"] = {
                "table": f"{schema}.{table}",
                "definition": definition,
            }
        for schema, name, kind, labels, base, attributes, constraints in rows(_TYPES):
            described: dict[str, Any] = {
                "kind": {"e": "enum", "d": "domain", "c": "composite", "r": "range"}[kind]
            }
            if kind == "e":
                described["labels"] = labels
            elif kind == "d":
                described.update(base=base, constraints=constraints)
            elif kind == "c":
                described["attributes"] = attributes
            objects["types"][f"{schema}.{name}"] = described
        for schema, table, name, definition, enabled in rows(_TRIGGERS):
            objects["triggers"][f"{schema}.{table}.{name}"] = {
                "definition": definition,
                "enabled": enabled,
            }
        for name, schema in rows(_EXTENSIONS):
            objects["extensions"][name] = {"schema": schema}
        version = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
    return Snapshot(schemas=list(schemas), server_version=version[0] if version else 0,
                    objects=objects)  # fmt: skip


def _clean(definition: str | None) -> str | None:
    return definition.strip() if definition else definition


@dataclass
class CategoryDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, Any] = field(default_factory=dict)  # name -> what changed

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def as_dict(self) -> dict[str, Any]:
        return {"added": self.added, "removed": self.removed, "changed": self.changed}


@dataclass
class CatalogDiff:
    """What changed from ``before`` to ``after``, by category."""

    categories: dict[str, CategoryDiff]

    @property
    def is_empty(self) -> bool:
        return not any(self.categories.values())

    def __getitem__(self, category: str) -> CategoryDiff:
        return self.categories[category]

    def as_dict(self) -> dict[str, Any]:
        return {name: d.as_dict() for name, d in self.categories.items() if d}

    def lines(self) -> list[str]:
        """A few readable lines: ``tables: + public.a, - public.b, ~ public.c``."""
        out = []
        for name, d in self.categories.items():
            if not d:
                continue
            parts = [f"+ {k}" for k in d.added] + [f"- {k}" for k in d.removed]
            parts += [f"~ {k}" for k in d.changed]
            out.append(f"{name}: " + ", ".join(parts))
        return out


def diff_values(before: Any, after: Any) -> Any:
    """None when equal; for two dicts, what was added, removed and changed; else both."""
    if before == after:
        return None
    if isinstance(before, dict) and isinstance(after, dict):
        result: dict[str, Any] = {}
        added = {k: after[k] for k in sorted(after.keys() - before.keys())}
        removed = {k: before[k] for k in sorted(before.keys() - after.keys())}
        changed = {
            k: diff_values(before[k], after[k])
            for k in sorted(before.keys() & after.keys())
            if before[k] != after[k]
        }
        if added:
            result["added"] = added
        if removed:
            result["removed"] = removed
        if changed:
            result["changed"] = changed
        return result
    return {"before": before, "after": after}


def diff(before: Snapshot, after: Snapshot) -> CatalogDiff:
    categories = {}
    for name in CATEGORIES:
        old, new = before.objects.get(name, {}), after.objects.get(name, {})
        categories[name] = CategoryDiff(
            added=sorted(new.keys() - old.keys()),
            removed=sorted(old.keys() - new.keys()),
            changed={
                k: diff_values(old[k], new[k])
                for k in sorted(old.keys() & new.keys())
                if old[k] != new[k]
            },
        )
    return CatalogDiff(categories)
