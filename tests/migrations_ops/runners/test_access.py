"""access tries every cell of the RLS matrix before and after the pending migrations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from migrations_ops.pg import access_matrix, pgtools
from migrations_ops.runners import access, get_runner
from tests.migrations_ops.runners.test_dry_run import staging_state

ROOT = Path(__file__).resolve().parents[3]
ALINE = "00000000-0000-0000-0000-00000000000a"
BOSCO = "00000000-0000-0000-0000-00000000000b"

INIT = """
create table public.accounts (
  id uuid primary key default gen_random_uuid(),
  owner uuid,
  name text
);
alter table public.accounts enable row level security;
create policy "owners read" on public.accounts for select to {authenticated}
  using (owner = auth.uid());
grant usage on schema public to {anon}, {authenticated}, {service};
grant select, insert, update, delete on public.accounts to {anon}, {authenticated}, {service};
create table public.notes (id bigint generated always as identity primary key, body text);
grant select on public.notes to {anon}, {service};
"""
ROWS = 50_000
DATA = f"""
insert into public.accounts (owner, name)
select case when i <= 20000 then '{ALINE}'::uuid
            when i <= 20010 then '{BOSCO}'::uuid
            else gen_random_uuid() end,
       'account ' || i
from generate_series(1, 50000) i;
insert into public.notes (body) select 'note ' || i from generate_series(1, 1000) i;
"""  # noqa: S608 (test data)
OPEN_UP = """
-- Opens accounts to everyone: the mistake the matrix is for.
create policy "anyone reads" on public.accounts for select to {anon} using (true);
create policy "owners write" on public.accounts for update to {authenticated}
  using (owner = auth.uid());
alter table public.notes enable row level security;
create view public.account_names as select name from public.accounts;
grant select on public.account_names to {anon};
create function public.count_accounts() returns bigint language sql
  as $$ select count(*) from public.accounts $$;
"""
SEED = (
    "insert into auth.users (id, email) values "
    "('00000000-0000-0000-0000-00000000000a', 'aline@example.com'), "
    "('00000000-0000-0000-0000-00000000000b', 'bosco@example.com') on conflict do nothing;\n"
)


@pytest.fixture
def service_role() -> Iterator[str]:
    name = f"rp_test_service_{uuid.uuid4().hex[:8]}"
    yield name
    with psycopg.connect(pgtools.scratch_server_url(), autocommit=True) as conn:
        conn.execute(f'DROP ROLE IF EXISTS "{name}"')


@pytest.fixture
def project(service_role, repo, staging):
    def write(path: str, text: str) -> Path:
        return repo.write(path, text.replace("{service}", service_role))

    write(
        "supabase/fixtures/service.sql",
        f"DO $$ BEGIN CREATE ROLE {service_role} NOLOGIN BYPASSRLS; "
        "EXCEPTION WHEN duplicate_object THEN NULL; END $$;\n",
    )
    write("supabase/seed.sql", SEED)
    write("supabase/migrations/20240101000000_init.sql", INIT)
    write("supabase/migrations/20240102000000_open_up.sql", OPEN_UP)
    with psycopg.connect(staging, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {service_role} NOLOGIN BYPASSRLS")
    repo.apply_to(staging, "20240101000000")
    with psycopg.connect(staging, autocommit=True) as conn:
        conn.execute(DATA)
    repo.service_role = service_role
    return repo


def context(project, url: str, **options):
    roles = {
        "anon": project.roles.anon,
        "authenticated": project.roles.authenticated,
        "service_role": project.service_role,
    }
    ctx = project.context(url, roles=roles, seed_files=["supabase/seed.sql"], **options)
    ctx.fixtures = [Path("supabase/fixtures/roles.sql"), Path("supabase/fixtures/service.sql")]
    return ctx


def cell(matrix: dict, principal: str, relation: str, operation: str) -> tuple:
    found = matrix[principal][relation][operation]
    return found["allowed"], found["rows"]


def test_it_shows_what_each_principal_gains_and_loses_and_never_changes_staging(project, staging):
    before = staging_state(staging)

    result = access.run(context(project, staging))

    assert result.ok, result.summary
    assert staging_state(staging) == before
    data = result.data
    assert json.loads(json.dumps(data)) == data
    assert [p["label"] for p in data["principals"]] == [
        "anon", "authenticated as aline@example.com", "authenticated as bosco@example.com",
        "service_role",
    ]  # fmt: skip
    anon = project.roles.anon
    assert data["principals"][1]["claims"] == {
        "sub": ALINE, "role": "authenticated", "email": "aline@example.com"}  # fmt: skip
    assert data["change_lines"] == [
        "anon SELECT public.account_names: (no such relation) -> 50,000 rows",
        "anon SELECT public.accounts: 0 -> 50,000 rows",
        "anon SELECT public.notes: 1,000 -> 0 rows",
        "authenticated as aline@example.com UPDATE public.accounts: 0 -> 20,000 rows",
        "authenticated as bosco@example.com UPDATE public.accounts: 0 -> 10 rows",
    ]
    before_cells, after_cells = data["before"], data["after"]
    assert cell(before_cells, "anon", "public.accounts", "SELECT") == (True, 0)
    assert cell(before_cells, "anon", "public.accounts", "INSERT") == (False, None)
    assert before_cells["anon"]["public.accounts"]["INSERT"]["reason"].startswith(
        "denied by row-level security")  # fmt: skip
    aline = f"authenticated:{ALINE}"
    assert cell(before_cells, aline, "public.accounts", "SELECT") == (True, 20_000)
    assert cell(after_cells, aline, "public.notes", "SELECT") == (False, None)  # no grant
    # Writes were rolled back: service_role still sees and deletes every row afterwards.
    for matrix in (before_cells, after_cells):
        assert cell(matrix, "service_role", "public.accounts", "SELECT") == (True, ROWS)
        assert cell(matrix, "service_role", "public.accounts", "DELETE") == (True, ROWS)
    lints = data["lints"]
    assert [(x["name"], x["object"]) for x in lints["new"]] == [
        ("rls_enabled_no_policy", "public.notes"),
        ("security_definer_view", "public.account_names"),
        ("function_search_path_mutable", "public.count_accounts()"),
    ]
    assert [(x["name"], x["object"]) for x in lints["resolved"]] == [
        ("rls_disabled_in_public", "public.notes")
    ]
    assert lints["new"][1]["code"] == "0010" and "security_invoker" in lints["new"][1]["remedy"]
    assert data["rows"] == {"copied": "all", "bytes": data["rows"]["bytes"]}
    page = access_matrix.markdown(data)
    assert "- anon SELECT public.accounts: 0 -> 50,000 rows\n" in page
    assert "- new: security_definer_view (0010) public.account_names" in page
    assert result.summary.startswith("5 access change(s) after 1 pending file(s)")
    assert anon.startswith("rp_test_anon_") and project.leftovers() == []


def test_it_samples_rows_beyond_the_data_limit_and_says_so(project, staging):
    result = access.run(context(project, staging, data_max_mb=1))

    data = result.data
    assert data["rows"]["copied"] == "sample"
    percent = data["rows"]["sample_percent"]
    assert 1 < percent < 50
    assert any("sample of every table was copied" in note for note in data["notes"])
    seen = data["after"]["service_role"]["public.accounts"]["SELECT"]["rows"]
    assert 0 < seen < ROWS
    assert abs(seen - ROWS * percent / 100) / (ROWS * percent / 100) < 0.5


def test_it_never_copies_rows_from_production(project, staging):
    result = access.run(context(project, staging, target_kind="production"))

    assert cell(result.data["after"], "service_role", "public.accounts", "SELECT") == (True, 0)
    assert any("rows are never copied" in note for note in result.data["notes"])


def test_it_builds_the_copy_from_the_migrations_when_staging_cannot_be_read(project):
    unreachable = "postgresql://postgres@127.0.0.1:1/staging"

    result = access.run(context(project, unreachable, applied_versions=["20240101000000"]))

    assert result.ok
    assert result.data["notes"][0].startswith("staging could not be read")
    assert "anon SELECT public.notes: 0 -> 0 rows" not in result.data["change_lines"]
    assert "anon SELECT public.accounts: 0 -> 0 rows" not in result.data["change_lines"]
    assert cell(result.data["after"], "anon", "public.accounts", "SELECT") == (True, 0)


def test_it_runs_through_manage_py_runner(project, staging):
    users = json.dumps([{"sub": ALINE, "email": "aline@example.com"}])
    roles = json.dumps(
        {"anon": project.roles.anon, "authenticated": project.roles.authenticated,
         "service_role": project.service_role}
    )  # fmt: skip
    done = subprocess.run(
        [sys.executable, "manage.py", "runner", "access", "--supabase-dir", str(project.supabase),
         "--database-url", staging, "--schema", "public",
         "--fixture", str(project.supabase / "fixtures/roles.sql"),
         "--fixture", str(project.supabase / "fixtures/service.sql"),
         "--option", f"roles={roles}", "--option", f"users={users}", "--json"],
        cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert "anon SELECT public.accounts: 0 -> 50,000 rows" in result["data"]["change_lines"]
    assert [p["label"] for p in result["data"]["principals"]][1] == (
        "authenticated as aline@example.com"
    )


def test_it_is_registered_as_a_runner():
    assert get_runner("access") is access.run
