"""What a database holds that a backup must reproduce: tables and their rows, settings.

backup reads these inside the transaction whose snapshot pg_dump uses; restore_check reads
them again from the restored scratch database and compares them (``compare_*``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from migrations_ops.pg import supabase_files
from migrations_ops.pg.backup_manifest import Setting, TableCount

logger = logging.getLogger(__name__)

# Tables pg_dump writes for ``--schema``: ordinary and partitioned tables, not those an
# extension created (their data is dumped only with the extension, which -n leaves out).
_TABLES = """
SELECT n.nspname, c.relname, c.relrowsecurity,
       (SELECT count(*) FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid)::int
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%s)
  AND c.relkind IN ('r', 'p')
  AND NOT EXISTS (
      SELECT 1 FROM pg_catalog.pg_depend d
      WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid
        AND d.deptype = 'e')
ORDER BY 1, 2
"""

_SETTINGS = """
SELECT CASE WHEN s.setdatabase = 0 THEN 'role'
            WHEN s.setrole = 0 THEN 'database'
            ELSE 'role_in_database' END,
       r.rolname,
       cfg.item
FROM pg_catalog.pg_db_role_setting s
LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.setrole
CROSS JOIN LATERAL unnest(s.setconfig) WITH ORDINALITY AS cfg(item, n)
WHERE s.setdatabase = (SELECT oid FROM pg_catalog.pg_database
                       WHERE datname = pg_catalog.current_database())
   OR (s.setdatabase = 0 AND s.setrole <> 0)
ORDER BY 1, 2 NULLS FIRST, cfg.n
"""


# The roles a dump of some schemas names: owners (ALTER ... OWNER TO), grantees and
# grantors (GRANT ... TO), policies' roles (CREATE POLICY ... TO) and default privileges
# set in those schemas (ALTER DEFAULT PRIVILEGES FOR ROLE). Roles belong to the server, so
# no dump carries them: a restore into another server needs them there first. PUBLIC
# (oid 0) is nobody's name and joins no role.
_ROLES = """
WITH s AS (
    SELECT oid, nspowner, nspacl FROM pg_catalog.pg_namespace WHERE nspname = ANY(%(schemas)s)
), c AS (
    SELECT oid, relowner, relacl FROM pg_catalog.pg_class WHERE relnamespace IN (SELECT oid FROM s)
), p AS (
    SELECT proowner, proacl FROM pg_catalog.pg_proc WHERE pronamespace IN (SELECT oid FROM s)
), t AS (
    SELECT typowner, typacl FROM pg_catalog.pg_type WHERE typnamespace IN (SELECT oid FROM s)
), d AS (
    SELECT defaclrole, defaclacl FROM pg_catalog.pg_default_acl
    WHERE defaclnamespace IN (SELECT oid FROM s)
), acl(a) AS (
    SELECT nspacl FROM s UNION ALL SELECT relacl FROM c UNION ALL SELECT proacl FROM p
    UNION ALL SELECT typacl FROM t UNION ALL SELECT defaclacl FROM d
    UNION ALL SELECT attacl FROM pg_catalog.pg_attribute
              WHERE attrelid IN (SELECT oid FROM c) AND attacl IS NOT NULL
), named(oid) AS (
    SELECT nspowner FROM s UNION SELECT relowner FROM c UNION SELECT proowner FROM p
    UNION SELECT typowner FROM t UNION SELECT defaclrole FROM d
    UNION SELECT unnest(polroles) FROM pg_catalog.pg_policy
          WHERE polrelid IN (SELECT oid FROM c)
    UNION SELECT e.grantee FROM acl CROSS JOIN LATERAL pg_catalog.aclexplode(acl.a) e
    UNION SELECT e.grantor FROM acl CROSS JOIN LATERAL pg_catalog.aclexplode(acl.a) e
)
SELECT r.rolname FROM named JOIN pg_catalog.pg_roles r ON r.oid = named.oid ORDER BY 1
"""

# Each relation with its schema and its "schema.name" (as left_out's lines name it), for
# the queries below; NOT MATERIALIZED: inlined into each, so only the rows joined are read.
_RELATIONS = """
WITH rel AS NOT MATERIALIZED (
    SELECT c.oid, n.nspname AS schema, n.nspname || '.' || c.relname AS name
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
)
"""

# What a dump of some schemas leaves out that they depend on, or that depends on them:
# triggers on tables elsewhere calling a function in a backed-up schema (a trigger belongs
# to its table: restoring the backup does not bring it back), and foreign keys, views
# and functions' types... reaching tables elsewhere (the restore needs them present).
_TRIGGERS_FROM_OUTSIDE = (
    _RELATIONS
    + """
SELECT tab.name, t.tgname, fn.nspname || '.' || p.proname
FROM pg_catalog.pg_trigger t
JOIN rel tab ON tab.oid = t.tgrelid
JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid
JOIN pg_catalog.pg_namespace fn ON fn.oid = p.pronamespace
WHERE NOT t.tgisinternal AND fn.nspname = ANY(%(schemas)s)
  AND NOT tab.schema = ANY(%(schemas)s)
ORDER BY 1, 2
"""
)
_FOREIGN_KEYS_TO_OUTSIDE = (
    _RELATIONS
    + """
SELECT src.name, con.conname, dst.name
FROM pg_catalog.pg_constraint con
JOIN rel src ON src.oid = con.conrelid
JOIN rel dst ON dst.oid = con.confrelid
WHERE con.contype = 'f' AND src.schema = ANY(%(schemas)s)
  AND NOT dst.schema = ANY(%(schemas)s)
ORDER BY 1, 2
"""
)


def left_out(conn: psycopg.Connection, schemas: list[str]) -> list[str]:
    """What a dump of ``schemas`` leaves out that they are tied to, in words: a restore of
    the backup alone does not bring these back, or needs them present."""
    params = {"schemas": list(schemas)}
    lines = [
        f"trigger {trigger} on {table} (not backed up) calls {function}: restoring this "
        "backup does not recreate it"
        for table, trigger, function in conn.execute(_TRIGGERS_FROM_OUTSIDE, params).fetchall()
    ]
    lines += [
        f"foreign key {name} of {table} references {other} (not backed up): a restore "
        "needs it present"
        for table, name, other in conn.execute(_FOREIGN_KEYS_TO_OUTSIDE, params).fetchall()
    ]
    return lines


def missing_schemas(conn: psycopg.Connection, schemas: list[str]) -> list[str]:
    rows = conn.execute(
        "SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname = ANY(%s)", [schemas]
    ).fetchall()
    found = {r[0] for r in rows}
    return [s for s in schemas if s not in found]


def list_tables(conn: psycopg.Connection, schemas: list[str]) -> list[TableCount]:
    """The tables of ``schemas``, with rows still 0 (see ``count_rows``)."""
    return [
        TableCount(schema=s, table=t, rows=0, rls_enabled=bool(rls), policies=int(pols))
        for s, t, rls, pols in conn.execute(_TABLES, [schemas]).fetchall()
    ]


def count_rows(
    conn: psycopg.Connection, tables: list[TableCount], *, lock_timeout: str = "0"
) -> list[TableCount]:
    """Exact row counts, in the connection's current transaction (and so its snapshot).

    ``ONLY``: a partitioned table's rows are counted in its partitions, as pg_dump writes
    them. Row security is off, as in pg_dump: a table whose policies would hide rows from
    this role fails loudly instead of being under-counted. ``lock_timeout`` bounds the wait
    for a table another session holds exclusively (a running migration), as pg_dump's
    --lock-wait-timeout does.
    """
    conn.execute("SET LOCAL row_security = off")
    # One backend per count: no parallel workers taken from production (or from pg_dump).
    conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")
    conn.execute("SELECT pg_catalog.set_config('lock_timeout', %s, true)", [lock_timeout])
    counted = []
    for t in tables:
        query = sql.SQL("SELECT count(*) FROM ONLY {}.{}").format(
            sql.Identifier(t.schema), sql.Identifier(t.table)
        )
        row = conn.execute(query).fetchone()
        counted.append(
            TableCount(
                schema=t.schema,
                table=t.table,
                rows=int(row[0]) if row else 0,
                rls_enabled=t.rls_enabled,
                policies=t.policies,
            )
        )
    return counted


def read_settings(conn: psycopg.Connection) -> list[Setting]:
    """Database-level and role-level settings (pg_db_role_setting) for this database."""
    found = []
    with conn.transaction():  # a savepoint inside backup's snapshot transaction
        rows = conn.execute(_SETTINGS).fetchall()
    for scope, role, item in rows:
        name, _, value = item.partition("=")
        found.append(Setting(scope=scope, role=role, name=name, value=value))
    return found


def read_roles(conn: psycopg.Connection, schemas: list[str]) -> list[str]:
    """The roles a dump of ``schemas`` names (owners, grants, policies), sorted."""
    return [r[0] for r in conn.execute(_ROLES, {"schemas": list(schemas)}).fetchall()]


def applied_versions(conn: psycopg.Connection) -> list[str]:
    """Versions in supabase_migrations.schema_migrations (none when the table is absent).

    Runs in a savepoint so that a refusal (no privilege) leaves the caller's transaction,
    and its snapshot, usable.
    """
    with conn.transaction():
        history = supabase_files.read_remote_history(conn)
    return [r.version for r in history]


def pending_versions(supabase_dir: Path, applied: list[str]) -> list[str]:
    """Versions of the local migration files (the CLI's rules and order) not in ``applied``.

    Raises supabase_files.MigrationsFolderMissing when ``supabase_dir/migrations`` is absent.
    """
    local, _skipped = supabase_files.list_local_migrations(supabase_dir / "migrations")
    done = set(applied)
    return [m.version for m in local if m.version not in done]


def compare_tables(expected: list[TableCount], restored: list[TableCount]) -> list[dict[str, Any]]:
    """What differs between the manifest's tables and the restored ones."""
    diffs: list[dict[str, Any]] = []
    got = {t.qualified: t for t in restored}
    want = {t.qualified: t for t in expected}
    for name, exp in want.items():
        res = got.get(name)
        if res is None:
            diffs.append(_diff("missing table", name, exp.rows, None, f"{name} was not restored"))
            continue
        if res.rows != exp.rows:
            diffs.append(
                _diff("rows", name, exp.rows, res.rows,
                      f"{name} has {res.rows:,} rows, the manifest says {exp.rows:,}")
            )  # fmt: skip
        if res.rls_enabled != exp.rls_enabled:
            state = "enabled" if res.rls_enabled else "disabled"
            diffs.append(
                _diff("rls", name, exp.rls_enabled, res.rls_enabled, f"{name}: RLS {state}")
            )
        if res.policies != exp.policies:
            diffs.append(
                _diff("policies", name, exp.policies, res.policies,
                      f"{name} has {res.policies} policies, the manifest says {exp.policies}")
            )  # fmt: skip
    for name in got.keys() - want.keys():
        diffs.append(_diff("extra table", name, None, got[name].rows, f"{name} not in manifest"))
    return diffs


def compare_settings(expected: list[Setting], restored: list[Setting]) -> list[dict[str, Any]]:
    """Database-scoped settings of the manifest that the restored database lacks."""
    diffs: list[dict[str, Any]] = []
    got = {(s.scope, s.role, s.name): s.value for s in restored if s.scoped_to_database}
    for s in expected:
        if not s.scoped_to_database:
            continue
        value = got.get((s.scope, s.role, s.name))
        if value != s.value:
            who = f"role {s.role} in the database" if s.role else "the database"
            diffs.append(
                {"problem": "setting", "table": None, "expected": s.value, "restored": value,
                 "message": f"{s.name} for {who} is {value!r}, the manifest says {s.value!r}"}
            )  # fmt: skip
    return diffs


def _diff(problem: str, table: str, expected: Any, restored: Any, message: str) -> dict[str, Any]:
    return {
        "problem": problem,
        "table": table,
        "expected": expected,
        "restored": restored,
        "message": message,
    }
