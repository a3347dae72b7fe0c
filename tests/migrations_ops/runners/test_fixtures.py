"""fixtures compares the policies the migrations create with what tests and fixtures touch."""

from __future__ import annotations

from migrations_ops.runners import fixtures

SCHEMA = """
create table public.accounts (id uuid primary key, owner uuid);
alter table public.accounts enable row level security;
create policy "owners read" on public.accounts for select using (owner = auth.uid());
create table public.invoices (id bigint primary key, account uuid);
alter table public.invoices enable row level security;
create policy "members read invoices" on public.invoices for select using (true);
create table public.audit_log (id bigint);
create schema private;
create table private.secrets (id bigint);
"""
ACCOUNTS_TEST = """
begin;
select plan(1);
select policies_are('public', 'accounts', array['owners read']);
select * from finish();
rollback;
"""


def context(repo, **options):
    ctx = repo.context(None, **options)
    ctx.schemas = ["public", "private"]
    return ctx


def test_it_lists_untested_rls_tables_open_tables_and_unmentioned_policies(repo):
    repo.migration("20240101000000", "init", SCHEMA)
    repo.write("supabase/tests/rls/accounts.test.sql", ACCOUNTS_TEST)
    repo.write("supabase/tests/fixtures/users.json", '{"table": "public.old_profiles"}')

    result = fixtures.run(context(repo))

    assert not result.ok
    data = result.data
    assert data["tables_with_rls"] == ["public.accounts", "public.invoices"]
    assert data["tables_with_rls_without_tests"] == ["public.invoices"]
    assert data["exposed_tables_without_rls"] == ["public.audit_log"]  # not private.secrets
    assert data["policies_not_mentioned"] == ["public.invoices.members read invoices"]
    assert data["references_unknown"] == ["public.old_profiles"]
    assert data["test_files"] == ["fixtures/users.json", "rls/accounts.test.sql"]
    assert "1 table(s) with RLS and no test (public.invoices)" in result.summary
    assert "1 exposed table(s) without RLS (public.audit_log)" in result.summary
    assert repo.created and repo.leftovers() == []


def test_it_passes_when_every_rls_table_is_tested_and_nothing_is_exposed(repo):
    repo.migration("20240101000000", "init", SCHEMA)
    repo.migration("20240102000000", "close", "alter table public.audit_log enable row level "
                   "security;\n")  # fmt: skip
    repo.write("supabase/tests/rls/accounts.test.sql", ACCOUNTS_TEST)
    repo.write("supabase/tests/rls/invoices.test.sql", "select * from public.invoices;\n"
               "-- audit_log: nobody may read it\n")  # fmt: skip

    result = fixtures.run(context(repo))
    assert result.ok, result.summary
    assert result.data["policies_not_mentioned"] == ["public.invoices.members read invoices"]

    strict = fixtures.run(context(repo, strict_policies=True))
    assert not strict.ok and "1 policy(ies) no test mentions" in strict.summary
