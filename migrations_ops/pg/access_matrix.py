"""Who can read and write what under row-level security: the access matrix of a database.

For every table and view in the exposed schemas and every principal PostgREST would run
a request as (``anon``; ``authenticated`` as each test user, with ``request.jwt.claims``
set as PostgREST sets them; ``service_role``), ``read`` tries SELECT, INSERT, UPDATE
and DELETE for real, as that role, and records what PostgreSQL allowed and how many rows
it touched. Run it on a scratch copy only: it writes. Every write runs inside a
savepoint that is rolled back, in a transaction that is rolled back.

How each cell is tried:

- SELECT: ``count(*)``: allowed unless privileges refuse; ``rows`` is what it sees.
- INSERT: a copy of a row the principal can see (else of a row the table holds, else
  ``DEFAULT VALUES``), without identity and generated columns. Allowed when PostgreSQL
  accepted it, or refused it for a constraint (unique, not null, check), which it tests
  only after privileges and policies. Denied by privileges, or by a policy's WITH CHECK.
- UPDATE: ``SET c = c`` on every row (c: a column the role may update); ``rows`` is
  what the policies let it change.
- DELETE: every row; ``rows`` is what the policies let it delete.

Triggers and foreign keys are off while writes are tried (``session_replication_role =
replica``) when the scratch server lets the job set it (a superuser; not the unprivileged
role of ``PORTAL_SANDBOX=off``): cells show what privileges and policies allow, and no
trigger fires a side effect. A trigger that refuses writes (a security check written as
a trigger) is then not seen; the report says which way it ran.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from psycopg import sql

OPERATIONS = ("SELECT", "INSERT", "UPDATE", "DELETE")
_SAMPLE_ROWS = 3


@dataclass(frozen=True)
class Principal:
    """A role and the JWT claims a request carries."""

    key: str  # "anon", "authenticated:<sub>", "authenticated", "service_role"
    label: str  # "anon", "authenticated as aline@example.com"
    role: str  # the database role (the project's name for it)
    claims: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Cell:
    allowed: bool | None  # None: could not be told (timeout, other error)
    rows: int | None = None
    reason: str = ""

    def describe(self, operation: str) -> str:
        if self.allowed is None:
            return f"unknown ({self.reason})"
        if not self.allowed:
            return self.reason or "denied"
        if operation == "INSERT":
            return "allowed"
        return f"{self.rows:,} rows" if self.rows is not None else "allowed"


@dataclass
class Relation:
    name: str  # schema.name
    kind: str  # table, view, materialized view...
    columns: list[tuple[str, str]] = field(default_factory=list)  # insertable: (name, type)
    samples: list[list[str | None]] = field(default_factory=list)  # superuser's sample rows


Matrix = dict[str, dict[str, dict[str, Cell]]]  # principal key -> relation -> operation


def default_roles(options: dict[str, Any] | None = None) -> dict[str, str]:
    roles = {"anon": "anon", "authenticated": "authenticated", "service_role": "service_role"}
    roles.update((options or {}).get("roles", {}))
    return roles


def principals(
    conn: psycopg.Connection,
    *,
    roles: dict[str, str],
    users: Sequence[dict[str, Any] | str] | None = None,
    max_users: int = 10,
) -> tuple[list[Principal], list[str]]:
    """The principals to try, and notes on what was left out.

    Test users come from ``users`` (claims, or user ids), else from the rows of
    ``auth.users`` that the fixtures and seeds created (at most ``max_users``).
    """
    notes: list[str] = []
    existing = {
        r[0]
        for r in conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", [list(roles.values())]
        ).fetchall()
    }
    found: list[Principal] = []
    for key in ("anon", "authenticated", "service_role"):
        if roles[key] not in existing:
            notes.append(
                f"role {roles[key]} does not exist on the scratch server: add it to the "
                "fixtures (the matrix has no column for it)"
            )
    if roles["anon"] in existing:
        found.append(Principal("anon", "anon", roles["anon"], {"role": "anon"}))
    if roles["authenticated"] in existing:
        listed = list(users) if users is not None else _auth_users(conn, max_users, notes)
        for item in listed:
            claims = {"sub": item} if isinstance(item, str) else dict(item)
            claims.setdefault("role", "authenticated")
            who = claims.get("email") or claims.get("sub")
            found.append(
                Principal(
                    f"authenticated:{claims.get('sub')}",
                    f"authenticated as {who}",
                    roles["authenticated"],
                    claims,
                )
            )
        if not listed:
            notes.append(
                "no test users (no auth.users rows and no users option): authenticated is "
                "tried without a user id"
            )
            found.append(
                Principal(
                    "authenticated", "authenticated (no user)", roles["authenticated"],
                    {"role": "authenticated"},
                )
            )  # fmt: skip
    if roles["service_role"] in existing:
        found.append(
            Principal(
                "service_role", "service_role", roles["service_role"], {"role": "service_role"}
            )
        )
    return found, notes


def _auth_users(conn: psycopg.Connection, limit: int, notes: list[str]) -> list[dict[str, Any]]:
    exists = conn.execute("SELECT to_regclass('auth.users') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return []
    columns = {
        r[0]
        for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'auth.users'::regclass "
            "AND attnum > 0 AND NOT attisdropped"
        ).fetchall()
    }
    email = sql.SQL("email::text") if "email" in columns else sql.SQL("NULL::text")
    rows = conn.execute(
        sql.SQL("SELECT id::text, {} FROM auth.users ORDER BY 2 NULLS LAST, 1 LIMIT {}").format(
            email, sql.Literal(limit + 1)
        )
    ).fetchall()
    if len(rows) > limit:
        notes.append(f"auth.users has more than {limit} rows: the first {limit} are tried")
    users = []
    for user_id, address in rows[:limit]:
        claims: dict[str, Any] = {"sub": user_id, "role": "authenticated"}
        if address:
            claims["email"] = address
        users.append(claims)
    return users


_RELATIONS = """
SELECT n.nspname || '.' || c.relname, c.relkind FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
  AND NOT c.relispartition
ORDER BY 1
"""
_KINDS = {"r": "table", "p": "table", "v": "view", "m": "materialized view", "f": "foreign table"}
_COLUMNS = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
  AND a.attidentity <> 'a' AND a.attgenerated = ''
ORDER BY a.attnum
"""


def exposed_relations(conn: psycopg.Connection, schemas: Sequence[str]) -> list[Relation]:
    """Tables and views in ``schemas``, with columns and a few sample rows (as superuser)."""
    out = []
    for name, kind in conn.execute(_RELATIONS, [list(schemas)]).fetchall():
        relation = Relation(name, _KINDS[kind])
        relation.columns = [(c, t) for c, t in conn.execute(_COLUMNS, [name]).fetchall()]
        if relation.columns and kind != "m":
            relation.samples = _sample(conn, relation)
        out.append(relation)
    return out


def _identifier(qualified: str) -> sql.Identifier:
    schema, name = qualified.split(".", 1)
    return sql.Identifier(schema, name)


def _sample(conn: psycopg.Connection, relation: Relation) -> list[list[str | None]]:
    columns = sql.SQL(", ").join(
        sql.SQL("{}::text").format(sql.Identifier(c)) for c, _ in relation.columns
    )
    query = sql.SQL("SELECT {} FROM {} LIMIT {}").format(
        columns, _identifier(relation.name), sql.Literal(_SAMPLE_ROWS)
    )
    try:
        with conn.transaction():
            return [list(row) for row in conn.execute(query).fetchall()]
    except psycopg.Error:
        return []


def can_turn_off_triggers(conn: psycopg.Connection) -> bool:
    """Whether this session may set ``session_replication_role`` (a superuser's setting)."""
    try:
        with conn.transaction(force_rollback=True):
            conn.execute("SET LOCAL session_replication_role = replica")
    except psycopg.errors.InsufficientPrivilege:
        return False
    return True


def read(
    conn: psycopg.Connection,
    principals_: Sequence[Principal],
    relations: Sequence[Relation],
    *,
    cell_timeout: str = "10s",
    triggers_off: bool = True,
) -> Matrix:
    """Try every operation on every relation as every principal; changes nothing."""
    if not conn.autocommit:
        raise ValueError("access_matrix.read needs an autocommit connection")
    matrix: Matrix = {}
    for principal in principals_:
        cells: dict[str, dict[str, Cell]] = {}
        conn.execute("BEGIN")
        try:
            refused = _become(conn, principal, cell_timeout, triggers_off)
            for relation in relations:
                if refused is not None:
                    cells[relation.name] = {op: Cell(None, None, refused) for op in OPERATIONS}
                else:
                    cells[relation.name] = _relation_cells(conn, relation)
        finally:
            conn.execute("ROLLBACK")
        matrix[principal.key] = cells
    return matrix


def _become(
    conn: psycopg.Connection, principal: Principal, cell_timeout: str, triggers_off: bool
) -> str | None:
    """Act as PostgREST does for a request: claims as settings, then SET ROLE.

    Returns why the job cannot act as the principal's role, or None."""
    claims = json.dumps(principal.claims)
    if triggers_off:
        conn.execute("SET LOCAL session_replication_role = replica")
    conn.execute(
        "SELECT set_config('statement_timeout', %s, true), "
        "set_config('request.jwt.claims', %s, true), "
        "set_config('request.jwt.claim.sub', %s, true), "
        "set_config('request.jwt.claim.role', %s, true), "
        "set_config('request.jwt.claim.email', %s, true)",
        [
            cell_timeout,
            claims,
            str(principal.claims.get("sub", "")),
            str(principal.claims.get("role", "")),
            str(principal.claims.get("email", "")),
        ],
    )
    try:
        with conn.transaction():
            conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(principal.role)))
    except psycopg.errors.InsufficientPrivilege as e:
        return (
            f"the job's role cannot act as {principal.role} "
            f"({e.diag.message_primary}): grant it membership on the scratch server"
        )
    return None


def _attempt(conn: psycopg.Connection, query: sql.Composed, params: Any = None) -> Cell:
    """Run one statement in a savepoint that is always rolled back."""
    try:
        with conn.transaction(force_rollback=True):
            cursor = conn.execute(query, params)
            if cursor.description is not None and cursor.rownumber is not None:
                row = cursor.fetchone()
                return Cell(True, int(row[0]) if row and row[0] is not None else 0)
            return Cell(True, cursor.rowcount if cursor.rowcount >= 0 else None)
    except psycopg.Error as e:
        return _refused(e)


def _refused(error: psycopg.Error) -> Cell:
    message = (error.diag.message_primary or str(error)).strip()
    state = error.sqlstate or ""
    if state == "42501":
        if "row-level security" in message:
            return Cell(False, None, "denied by row-level security")
        if "schema" in message:
            return Cell(
                False, None, "no privilege (" + message.removeprefix("permission denied for ") + ")"
            )
        return Cell(False, None, "no privilege")
    if state.startswith("23"):
        # Constraints are checked after privileges and policies: those let it through.
        return Cell(True, None, f"allowed; the sample row broke a constraint ({message})")
    if state in ("55000", "0A000", "42809"):
        return Cell(False, None, f"not writable ({message})")
    if state == "57014":
        return Cell(None, None, "timed out")
    return Cell(None, None, f"{message} [SQLSTATE {state}]")


def _relation_cells(conn: psycopg.Connection, relation: Relation) -> dict[str, Cell]:
    table = _identifier(relation.name)
    cells = {"SELECT": _attempt(conn, sql.SQL("SELECT count(*) FROM {}").format(table))}
    if relation.kind == "materialized view":
        for operation in OPERATIONS[1:]:
            cells[operation] = Cell(False, None, "not writable (materialized view)")
        return cells
    cells["INSERT"] = _insert(conn, relation, cells["SELECT"])
    updatable = relation.columns[0][0] if relation.columns else None
    if updatable is None:
        cells["UPDATE"] = Cell(False, None, "no column to update")
    else:
        column = sql.Identifier(updatable)
        cells["UPDATE"] = _attempt(
            conn, sql.SQL("UPDATE {} SET {} = {}").format(table, column, column)
        )
    cells["DELETE"] = _attempt(conn, sql.SQL("DELETE FROM {}").format(table))
    return cells


def _insert(conn: psycopg.Connection, relation: Relation, select: Cell) -> Cell:
    table = _identifier(relation.name)
    candidates: list[list[str | None]] = []
    if select.allowed and select.rows:
        candidates += _sample(conn, relation)  # rows this principal can see come first
    candidates += relation.samples
    if not candidates or not relation.columns:
        return _attempt(conn, sql.SQL("INSERT INTO {} DEFAULT VALUES").format(table))
    names = sql.SQL(", ").join(sql.Identifier(c) for c, _ in relation.columns)
    values = sql.SQL(", ").join(
        sql.SQL("%s::{}").format(sql.SQL(type_)) for _, type_ in relation.columns
    )
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(table, names, values)
    refused: Cell | None = None
    for row in candidates[: _SAMPLE_ROWS * 2]:
        cell = _attempt(conn, query, row)
        if cell.allowed:
            return Cell(True, None, cell.reason)
        refused = refused or cell
        if cell.reason.startswith("no privilege") or cell.reason.startswith("not writable"):
            break
    assert refused is not None
    tried = min(len(candidates), _SAMPLE_ROWS * 2)
    if refused.reason == "denied by row-level security":
        refused.reason = f"denied by row-level security ({tried} row(s) tried)"
    return refused


def as_dict(matrix: Matrix) -> dict[str, Any]:
    return {
        principal: {
            relation: {operation: asdict(cell) for operation, cell in cells.items()}
            for relation, cells in relations.items()
        }
        for principal, relations in matrix.items()
    }


@dataclass
class Change:
    principal: str
    label: str
    operation: str
    relation: str
    before: Cell | None  # None: the relation did not exist
    after: Cell | None

    def line(self) -> str:
        """``anon SELECT public.accounts: 0 -> 50,000 rows``."""
        b, a = self.before, self.after
        where = f"{self.label} {self.operation} {self.relation}: "
        if (
            b is not None and a is not None and b.allowed and a.allowed
            and b.rows is not None and a.rows is not None
        ):  # fmt: skip
            return where + f"{b.rows:,} -> {a.rows:,} rows"
        before = b.describe(self.operation) if b else "(no such relation)"
        after = a.describe(self.operation) if a else "(dropped)"
        return where + f"{before} -> {after}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "principal": self.principal,
            "operation": self.operation,
            "relation": self.relation,
            "before": asdict(self.before) if self.before else None,
            "after": asdict(self.after) if self.after else None,
            "line": self.line(),
        }


def diff(before: Matrix, after: Matrix, labels: dict[str, str]) -> list[Change]:
    """The cells whose permission or row count changed, principal by principal.

    For a relation the release creates (or drops), only the cells that allow something
    are listed: "no privilege" on a new view is no change in who can do what.
    """
    changes = []
    for principal in sorted(set(before) | set(after), key=list(labels).index):
        old, new = before.get(principal, {}), after.get(principal, {})
        for relation in sorted(set(old) | set(new)):
            for operation in OPERATIONS:
                b = old.get(relation, {}).get(operation)
                a = new.get(relation, {}).get(operation)
                if (
                    (b is None or not b.allowed)
                    and (a is None or not a.allowed)
                    and (b is None or a is None)
                ):
                    continue
                if b is not None and a is not None and (b.allowed, b.rows) == (a.allowed, a.rows):
                    continue
                changes.append(Change(principal, labels.get(principal, principal), operation,
                                      relation, b, a))  # fmt: skip
    return changes


def markdown(data: dict[str, Any]) -> str:
    """The access result as a Markdown section: the changed cells, then the new lints."""
    lines = data.get("change_lines", [])
    out = [f"**Access changes: {len(lines)}**", ""]
    out += [f"- {line}" for line in lines] or ["- none"]
    lints = data.get("lints", {})
    if lints.get("new") or lints.get("resolved"):
        out += ["", "Supabase lints:", ""]
        out += [f"- new: {x['name']} ({x['code']}) {x['object']}: {x['remedy']}"
                for x in lints.get("new", [])]  # fmt: skip
        out += [
            f"- fixed: {x['name']} ({x['code']}) {x['object']}" for x in lints.get("resolved", [])
        ]
    return "\n".join(out) + "\n"
