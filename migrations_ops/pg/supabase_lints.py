"""Supabase's database lints that matter for a release, read from the catalog.

The same checks as Supabase's linter (supabase/splinter), by its names and numbers:

- ``0013_rls_disabled_in_public``: a table in an exposed schema without row-level
  security: anyone with the anon key reads and writes it through the API;
- ``0007_policy_exists_rls_disabled``: policies on a table whose RLS is off: they do
  nothing;
- ``0008_rls_enabled_no_policy``: RLS on, no policy: nobody but the owner and
  BYPASSRLS roles sees a row (often a table exposed by mistake, or a missing policy);
- ``0010_security_definer_view``: a view in an exposed schema that runs with its owner's
  rights (no ``security_invoker``), so the querying user's RLS is not applied;
- ``0011_function_search_path_mutable``: a function without a fixed ``search_path``:
  a caller's search_path can make it run someone else's objects.

``read`` only reads; ``compare`` says which warnings the release adds and which it fixes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import psycopg

REMEDIES = {
    "rls_disabled_in_public": "ALTER TABLE ... ENABLE ROW LEVEL SECURITY, with policies for "
    "what each role may do",
    "policy_exists_rls_disabled": "enable row level security on the table, or drop the "
    "policies that have no effect",
    "rls_enabled_no_policy": "add the policies the API roles need, or move the table out of "
    "the exposed schemas",
    "security_definer_view": "ALTER VIEW ... SET (security_invoker = true) (PostgreSQL 15+), "
    "or move the view out of the exposed schemas",
    "function_search_path_mutable": "ALTER FUNCTION ... SET search_path = '' (and qualify the "
    "names it uses)",
}
_CODES = {
    "rls_disabled_in_public": "0013",
    "policy_exists_rls_disabled": "0007",
    "rls_enabled_no_policy": "0008",
    "security_definer_view": "0010",
    "function_search_path_mutable": "0011",
}


@dataclass(frozen=True)
class Lint:
    name: str
    object: str
    message: str

    @property
    def code(self) -> str:
        return _CODES[self.name]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "code": self.code, "remedy": REMEDIES[self.name]}


_TABLES = """
SELECT n.nspname || '.' || c.relname, c.relrowsecurity,
       EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname = ANY(%(exposed)s)
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1
"""
_POLICIES_WITHOUT_RLS = """
SELECT DISTINCT n.nspname || '.' || c.relname FROM pg_policy p
JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT c.relrowsecurity AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1
"""
_DEFINER_VIEWS = """
SELECT n.nspname || '.' || c.relname FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'v' AND n.nspname = ANY(%(exposed)s)
  AND NOT coalesce(
    (SELECT bool_or(option IN ('security_invoker=true', 'security_invoker=on',
                               'security_invoker=1', 'security_invoker=yes'))
     FROM unnest(c.reloptions) option), false)
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1
"""
_MUTABLE_FUNCTIONS = """
SELECT n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')'
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname NOT LIKE 'pg\\_%%' AND p.prokind IN ('f', 'p')
  AND NOT EXISTS (SELECT 1 FROM unnest(coalesce(p.proconfig, '{}')) c
                  WHERE c LIKE 'search\\_path=%%')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
  AND n.nspname = ANY(%(schemas)s)
ORDER BY 1
"""


def read(conn: psycopg.Connection, *, exposed: Sequence[str], schemas: Sequence[str]) -> list[Lint]:
    """The lints of the database at ``conn``: tables and views in ``exposed`` schemas,
    functions in ``schemas`` (the project's own; Supabase's schemas have their own owners)."""
    params = {"exposed": list(exposed), "schemas": list(schemas)}
    lints: list[Lint] = []
    for table, rls, has_policy in conn.execute(_TABLES, params).fetchall():
        if not rls:
            lints.append(
                Lint(
                    "rls_disabled_in_public",
                    table,
                    f"{table} is in an exposed schema but row level security is off: the API "
                    "roles read and write it as their privileges allow",
                )
            )
        elif not has_policy:
            lints.append(
                Lint(
                    "rls_enabled_no_policy",
                    table,
                    f"{table} has row level security on and no policy: the API roles see no row",
                )
            )
    for (table,) in conn.execute(_POLICIES_WITHOUT_RLS).fetchall():
        lints.append(
            Lint(
                "policy_exists_rls_disabled",
                table,
                f"{table} has policies but row level security is off: they are not applied",
            )
        )
    for (view,) in conn.execute(_DEFINER_VIEWS, params).fetchall():
        lints.append(
            Lint(
                "security_definer_view",
                view,
                f"{view} runs with its owner's rights: the querying user's policies on the "
                "tables it reads are not applied",
            )
        )
    for (function,) in conn.execute(_MUTABLE_FUNCTIONS, params).fetchall():
        lints.append(
            Lint(
                "function_search_path_mutable",
                function,
                f"{function} has no fixed search_path: the caller's search_path decides "
                "which objects it uses",
            )
        )
    return lints


def compare(before: Sequence[Lint], after: Sequence[Lint]) -> dict[str, list[dict[str, Any]]]:
    """What the release adds and fixes: ``{"new": [...], "resolved": [...]}``."""
    old = set(before)
    new = set(after)
    return {
        "new": [lint.as_dict() for lint in after if lint not in old],
        "resolved": [lint.as_dict() for lint in before if lint not in new],
    }
