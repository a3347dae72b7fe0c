"""catalog.snapshot reads a schema from pg_catalog; catalog.diff ignores noise."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from migrations_ops.pg.catalog import diff, snapshot

SCHEMA = """
create type status as enum ('draft', 'sent');
create table public.invoices (
  id bigint generated always as identity primary key,
  status status not null default 'draft',
  total numeric(10, 2),
  owner uuid
);
create index invoices_owner on public.invoices (owner);
alter table public.invoices enable row level security;
create policy "owners read" on public.invoices for select to public using (owner is not null);
create table public.notes (body text);
create view public.sent_invoices as select id from public.invoices where status = 'sent';
create function public.touch(a integer, b text default 'x') returns integer
  language sql immutable as $$ select a $$;
create function public.stamp() returns trigger language plpgsql as $$
begin return new; end $$;
create trigger invoices_stamp before update on public.invoices
  for each row execute function public.stamp();
"""


def load(url: str, text: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(text)


def read(url: str, schemas=("public",)):
    with psycopg.connect(url, autocommit=True) as conn:
        return snapshot(conn, schemas=list(schemas))


def test_it_reads_tables_columns_policies_functions_and_the_rest(database):
    load(database, SCHEMA)
    snap = read(database)
    invoices = snap["tables"]["public.invoices"]
    assert invoices["rls"] is True
    assert invoices["columns"]["total"]["type"] == "numeric(10,2)"
    assert invoices["columns"]["status"]["default"] == "'draft'::public.status"
    assert invoices["columns"]["id"]["identity"] == "a"
    assert invoices["constraints"]["invoices_pkey"] == "PRIMARY KEY (id)"
    assert snap["policies"]["public.invoices.owners read"] == {
        "table": "public.invoices", "command": "SELECT", "permissive": "PERMISSIVE",
        "roles": ["public"], "using": "(owner IS NOT NULL)", "check": None,
    }  # fmt: skip
    assert "public.touch(a integer, b text)" in snap["functions"]
    assert snap["functions"]["public.touch(a integer, b text)"]["returns"] == "integer"
    assert snap["types"]["public.status"] == {"kind": "enum", "labels": ["draft", "sent"]}
    assert "public.invoices_owner" in snap["indexes"]
    assert snap["views"]["public.sent_invoices"]["kind"] == "view"
    assert "public.invoices.invoices_stamp" in snap["triggers"]
    assert snap.tables_without_rls() == ["public.notes"]


def test_it_reads_only_the_schemas_asked_for(database):
    load(
        database, "create schema app; create table app.a (id int); create table public.b (id int);"
    )
    assert list(read(database, ["app"])["tables"]) == ["app.a"]


def test_it_lists_what_was_added_removed_and_changed(database):
    load(database, SCHEMA)
    before = read(database)
    load(
        database,
        "alter table public.invoices add column paid_at timestamptz;"
        "alter table public.invoices alter column total type numeric(12, 2);"
        'drop policy "owners read" on public.invoices;'
        'create policy "owners write" on public.invoices for update using (true);'
        "alter table public.notes enable row level security;"
        "alter type status add value 'paid';"
        "drop view public.sent_invoices;",
    )
    changes = diff(before, read(database))
    assert changes["policies"].added == ["public.invoices.owners write"]
    assert changes["policies"].removed == ["public.invoices.owners read"]
    assert changes["views"].removed == ["public.sent_invoices"]
    invoices = changes["tables"].changed["public.invoices"]["changed"]["columns"]
    assert list(invoices["added"]) == ["paid_at"]
    assert invoices["changed"]["total"]["changed"]["type"] == {
        "before": "numeric(10,2)", "after": "numeric(12,2)"}  # fmt: skip
    assert changes["tables"].changed["public.notes"]["changed"]["rls"] == {
        "before": False, "after": True}  # fmt: skip
    assert changes["types"].changed["public.status"]["changed"]["labels"]["after"][-1] == "paid"
    assert any(line.startswith("policies: + public.invoices.owners write") for line in
               changes.lines())  # fmt: skip


def test_it_ignores_owners_column_order_and_creation_order(make_database, server_url):
    first, second = make_database("catalog_a"), make_database("catalog_b")
    load(first, "create table public.a (x int, y text); create table public.b (id int);")
    load(second, "create table public.b (id int); create table public.a (y text, x int);")
    role = f"rp_test_owner_{uuid.uuid4().hex[:8]}"
    load(second, f"create role {role}; alter table public.b owner to {role};")
    try:
        assert diff(read(first), read(second)).is_empty
    finally:
        load(second, f"drop owned by {role}; ")
        load(server_url, f"drop role {role};")


def test_it_sees_identical_schemas_as_identical_whatever_the_search_path(make_database):
    first, second = make_database("catalog_a"), make_database("catalog_b")
    load(first, SCHEMA)
    load(second, SCHEMA)
    with psycopg.connect(second, autocommit=True) as conn:
        conn.execute("set search_path = public, pg_catalog")
        other = snapshot(conn, schemas=["public"])
    assert diff(read(first), other).is_empty


def test_it_leaves_out_objects_that_belong_to_an_extension(database):
    with psycopg.connect(database, autocommit=True) as conn:
        available = conn.execute(
            "select 1 from pg_available_extensions where name = 'citext'").fetchone()  # fmt: skip
        if not available:
            pytest.skip("the citext extension (PostgreSQL contrib) is not installed here")
        conn.execute("create extension citext schema public")
    snap = read(database)
    assert snap["extensions"] == {"citext": {"schema": "public"}}
    assert not any(name.startswith("public.citext") for name in snap["functions"])
    assert "public.citext" not in snap["types"]
