"""rls runs supabase/tests (pgTAP and plain SQL) in one scratch database, in name order."""

from __future__ import annotations

import pytest

from migrations_ops.pg import installations
from migrations_ops.runners import rls
from tests.services import need

INIT = """
create table public.accounts (id uuid primary key, owner uuid, name text);
alter table public.accounts enable row level security;
create policy "owners read" on public.accounts for select to {authenticated}
  using (owner = auth.uid());
grant select on public.accounts to {authenticated};
"""
SEED = """
insert into public.accounts values
  ('00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-000000000001', 'mine'),
  ('00000000-0000-0000-0000-00000000000b', '00000000-0000-0000-0000-000000000002', 'theirs');
"""
HELPERS = """
-- helpers every later test file calls (they must survive: no rollback here)
create schema if not exists tests;
create or replace function tests.authenticate_as(user_id uuid) returns void
language plpgsql as $$
begin
  perform set_config('request.jwt.claim.sub', user_id::text, true);
  execute format('set local role %I', '{authenticated}');
end $$;
"""
PGTAP_TEST = """
begin;
select plan(2);
select tests.authenticate_as('00000000-0000-0000-0000-000000000001');
select is((select count(*) from public.accounts), 1::bigint, 'an owner sees one account');
select is((select name from public.accounts), 'mine', 'and it is their own');
select * from finish();
rollback;
"""
TAP_WITHOUT_PGTAP = """
select '1..3';
select 'ok 1 - policies exist';
select 'not ok 2 - anon cannot read accounts';
select '# expected 0 rows, got 2';
select 'ok 3 - skipped for now # SKIP needs storage';
"""
FAILING_SQL = """-- plain SQL test: any error fails it
begin;
select tests.authenticate_as('00000000-0000-0000-0000-000000000001');
do $$ begin
  if (select count(*) from public.accounts) <> 1 then raise exception 'owner sees too much'; end if;
end $$;
select 1
  from public.accounts
 where nosuch_column = 1
 order by 1;
rollback;
"""


@pytest.fixture
def project_with_tests(repo):
    repo.migration("20240101000000", "init", INIT)
    repo.write("supabase/seed.sql", SEED)
    repo.write("supabase/tests/00000-helpers.sql", HELPERS)
    return repo


# Debian's PostgreSQL (with its postgresql-<N>-pgtap) and the wheel's 18 (pgTAP's files
# through extension_control_path), both inside the sandbox.
MAJORS = sorted({i.major for i in installations.installations()})


@pytest.mark.parametrize("major", MAJORS)
def test_it_runs_pgtap_files_after_a_helper_file_in_the_same_database(project_with_tests, major):
    repo = project_with_tests
    cluster = repo.sandbox.cluster(preferred_major=major)
    need("pgTAP", "pgtap" in cluster.extensions, "the sandbox's PostgreSQL has no pgtap "
         f"extension (apt-get install postgresql-{major}-pgtap)")  # fmt: skip
    repo.write("supabase/tests/rls/accounts.test.sql", PGTAP_TEST)

    result = rls.run(repo.context(None, seed_files=["supabase/seed.sql"]))
    assert result.data["sandbox"]["major"] == major if "sandbox" in result.data else True
    assert cluster.installation.major == major

    assert result.ok, result.summary
    files = {f["file"]: f for f in result.data["files"]}
    assert list(files) == ["00000-helpers.sql", "rls/accounts.test.sql"]
    accounts = files["rls/accounts.test.sql"]
    assert accounts["kind"] == "pgtap" and accounts["planned"] == 2
    assert [a["description"] for a in accounts["assertions"]] == [
        "an owner sees one account", "and it is their own"]  # fmt: skip
    assert result.data["pgtap"] is True
    assert repo.created and repo.leftovers() == []


def test_it_reads_tap_per_assertion_without_needing_pgtap(project_with_tests):
    repo = project_with_tests
    repo.write("supabase/tests/rls/by_hand.test.sql", TAP_WITHOUT_PGTAP)

    result = rls.run(repo.context(None))

    assert not result.ok
    by_hand = result.data["files"][1]
    assert [(a["number"], a["passed"]) for a in by_hand["assertions"]] == [
        (1, True), (2, False), (3, True)]  # fmt: skip
    assert by_hand["assertions"][1]["diagnostics"] == ["expected 0 rows, got 2"]
    assert by_hand["assertions"][2]["directive"] == "SKIP"
    assert "not ok 2 - anon cannot read accounts" in result.summary


def test_it_reports_the_line_of_the_first_error_in_a_plain_sql_test(project_with_tests):
    repo = project_with_tests
    repo.write("supabase/tests/rls/accounts.test.sql", FAILING_SQL)

    result = rls.run(repo.context(None, seed_files=["seed.sql"]))

    failing = result.data["files"][1]
    assert (failing["kind"], failing["ok"]) == ("sql", False)
    assert failing["error"]["line"] == 9
    assert "nosuch_column" in failing["error"]["message"]
    assert "rls/accounts.test.sql line 9" in result.summary
    assert result.data["files"][0]["ok"] is True  # the helper file itself passed


def test_it_still_runs_the_tests_when_a_migration_fails_and_says_so(project_with_tests):
    repo = project_with_tests
    repo.migration("20240102000000", "broken", "alter table public.nosuch add column x int;")
    repo.write("supabase/tests/rls/plain.test.sql", "select 1 from public.accounts;")

    result = rls.run(repo.context(None))

    assert [f["ok"] for f in result.data["files"]] == [True, True]
    assert not result.ok
    assert "could not be applied" in result.data["notes"][0]
    assert "20240102000000_broken.sql" in result.data["notes"][0]


def test_it_says_how_to_install_pgtap_for_the_scratch_server_s_version():
    hint = rls.pgtap_install_hint(15)
    assert "apt-get install postgresql-15-pgtap" in hint
    assert "embedded PostgreSQL" in hint


def test_it_does_not_run_fixture_and_seed_files_as_tests(sandbox, tmp_path):
    from migrations_ops.runners.base import RunContext

    supabase = tmp_path / "supabase"
    (supabase / "migrations").mkdir(parents=True)
    (supabase / "migrations" / "20250101000000_t.sql").write_text("create table t (id int);\n")
    (supabase / "tests" / "fixtures").mkdir(parents=True)
    seed = supabase / "tests" / "fixtures" / "seed.sql"
    # Run twice, this seed would break the unique index the test checks.
    seed.write_text("create unique index on t (id);\ninsert into t values (1);\n")
    (supabase / "tests" / "t.test.sql").write_text(
        "do $$ begin if (select count(*) from t) <> 1 then raise exception 'seeded twice'; "
        "end if; end $$;\n"
    )
    result = rls.run(
        RunContext(
            supabase_dir=supabase,
            repo_dir=tmp_path,
            options={"seed_files": ["supabase/tests/fixtures/seed.sql"]},
            sandbox=sandbox,
        )
    )
    assert result.ok, result.summary
    assert [f["file"] for f in result.data["files"]] == ["t.test.sql"]
    assert any("seed.sql is a fixture or seed file" in n for n in result.data["notes"])
