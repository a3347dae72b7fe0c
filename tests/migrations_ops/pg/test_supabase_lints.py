"""supabase_lints finds the five lints a release can introduce, by splinter's names."""

from __future__ import annotations

import psycopg

from migrations_ops.pg import supabase_lints

SCHEMA = """
create schema private;
create table public.open (id int);
create table public.locked (id int);
alter table public.locked enable row level security;
create table public.guarded (id int);
alter table public.guarded enable row level security;
create policy "read" on public.guarded for select using (true);
create table private.forgotten (id int);
create policy "never applied" on private.forgotten for select using (true);
create view public.definer as select id from public.guarded;
create view public.invoker with (security_invoker = true) as select id from public.guarded;
create view private.hidden as select id from private.forgotten;
create function public.loose() returns int language sql as $$ select 1 $$;
create function public.pinned() returns int language sql set search_path = '' as $$ select 1 $$;
create function private.helper() returns int language sql as $$ select 1 $$;
"""


def test_it_finds_each_lint_where_supabase_would(database):
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(SCHEMA)
        lints = supabase_lints.read(conn, exposed=["public"], schemas=["public"])

    assert [(lint.code, lint.name, lint.object) for lint in lints] == [
        ("0008", "rls_enabled_no_policy", "public.locked"),
        ("0013", "rls_disabled_in_public", "public.open"),
        ("0007", "policy_exists_rls_disabled", "private.forgotten"),
        ("0010", "security_definer_view", "public.definer"),
        ("0011", "function_search_path_mutable", "public.loose()"),
    ]


def test_it_says_what_a_release_adds_and_fixes():
    lint = supabase_lints.Lint
    before = [lint("rls_disabled_in_public", "public.open", "...")]
    after = [lint("rls_enabled_no_policy", "public.open", "...")]

    changes = supabase_lints.compare(before, after)

    assert [x["name"] for x in changes["new"]] == ["rls_enabled_no_policy"]
    assert [x["name"] for x in changes["resolved"]] == ["rls_disabled_in_public"]
    assert changes["new"][0]["remedy"].startswith("add the policies")
