"""dry_run rehearses pending migrations on a scratch copy of staging; staging never changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest

from migrations_ops.pg import pgtools, scratch_setup, staging_copy
from migrations_ops.pg.job_sandbox import open_sandbox
from migrations_ops.runners import dry_run
from migrations_ops.runners.base import JobCancelled, RunnerError
from tests.migrations_ops.runners.conftest import Project

ROOT = Path(__file__).resolve().parents[3]

INIT = """
create table public.accounts (
  id uuid primary key default gen_random_uuid(),
  owner uuid references auth.users (id),
  name text
);
alter table public.accounts enable row level security;
create policy "owners read" on public.accounts for select to {authenticated}
  using (owner = auth.uid());
"""
ADD_INVOICES = """
create type invoice_status as enum ('draft');
create table public.invoices (id bigint generated always as identity primary key,
                              account uuid references public.accounts (id));
alter table public.invoices enable row level security;
create policy "members read" on public.invoices for select to {authenticated} using (true);
create table public.audit_trail (id bigint);
"""
ADD_VALUE = "alter type invoice_status add value 'sent';\n"
USE_VALUE = """
-- uses the value the previous file added: fine, each file is its own transaction
alter table public.invoices add column status invoice_status not null default 'sent';
"""


def staging_state(url: str) -> tuple[str, list]:
    """Staging's full schema dump and history rows, to compare before and after."""
    tool = pgtools.find_tool("pg_dump", 0)
    dump = subprocess.run(
        [tool.path, "--schema-only"], env=pgtools.libpq_env(url), capture_output=True,
        text=True, check=True,
    ).stdout  # fmt: skip
    lines = [ln for ln in dump.splitlines() if not ln.startswith(("\\restrict", "\\unrestrict"))]
    with psycopg.connect(url) as conn:
        history = conn.execute(
            "select version, name, statements from supabase_migrations.schema_migrations "
            "order by version"
        ).fetchall()
    return "\n".join(lines), history


def test_it_applies_pending_migrations_on_a_copy_and_never_changes_staging(repo, staging):
    repo.migration("20240101000000", "init", INIT)
    repo.migration("20240102000000", "invoices", ADD_INVOICES)
    repo.migration("20240103000000", "add_value", ADD_VALUE)
    repo.migration("20240104000000", "use_value", USE_VALUE)
    repo.apply_to(staging, "20240101000000")
    before = staging_state(staging)

    result = dry_run.run(repo.context(staging))

    assert result.ok, result.summary
    assert staging_state(staging) == before
    data = result.data
    assert data["basis"] == "staging" and data["notes"] == []
    assert data["pending"] == ["20240102000000_invoices.sql", "20240103000000_add_value.sql",
                               "20240104000000_use_value.sql"]  # fmt: skip
    assert [f["ok"] for f in data["apply"]["files"]] == [True, True, True]
    assert all("seconds" in f for f in data["apply"]["files"])
    changes = data["catalog_changes"]
    assert changes["tables"]["added"] == ["public.audit_trail", "public.invoices"]
    assert changes["policies"]["added"] == ["public.invoices.members read"]
    assert data["new_tables_without_rls"] == ["public.audit_trail"]
    assert json.loads(json.dumps(data)) == data  # structured, JSON-serialisable
    assert repo.created and repo.leftovers() == []


def test_it_reports_the_first_failure_with_file_statement_line_and_sqlstate(repo, staging):
    repo.migration("20240101000000", "init", INIT)
    repo.migration("20240102000000", "broken", "select 1;\n\nalter table public.acounts\n"
                   "  add column x int;\n")  # fmt: skip
    repo.migration("20240103000000", "later", "select 1;")
    repo.apply_to(staging, "20240101000000")

    result = dry_run.run(repo.context(staging))

    assert not result.ok
    failure = result.data["first_failure"]
    assert (failure["file"], failure["statement"], failure["line"], failure["sqlstate"]) == (
        "20240102000000_broken.sql", 2, 3, "42P01")  # fmt: skip
    assert failure["environment_gap"] is False
    assert result.data["apply"]["not_attempted"] == ["20240103000000_later.sql"]
    assert "20240102000000_broken.sql line 3" in result.summary
    assert repo.created and repo.leftovers() == []


def test_it_copies_staging_rows_when_asked_and_sees_what_only_data_breaks(repo, staging):
    repo.migration("20240101000000", "init", INIT)
    repo.migration("20240102000000", "strict", "alter table public.accounts\n"
                   "  alter column name set not null;\n")  # fmt: skip
    repo.apply_to(staging, "20240101000000")
    with psycopg.connect(staging, autocommit=True) as conn:
        conn.execute("insert into public.accounts (name) values (null)")

    assert dry_run.run(repo.context(staging)).ok  # schema only: no rows to object
    with_data = dry_run.run(repo.context(staging, with_data=True, data_max_mb=10))
    assert with_data.data["first_failure"]["sqlstate"] == "23502"
    too_big = dry_run.run(repo.context(staging, with_data=True, data_max_mb=0))
    assert too_big.ok and "only the schema was copied" in too_big.data["notes"][0]


def test_it_says_at_the_top_when_staging_cannot_be_read(repo):
    repo.migration("20240101000000", "init", INIT)
    repo.migration("20240102000000", "invoices", ADD_INVOICES)
    unreachable = "postgresql://postgres@127.0.0.1:1/staging"

    result = dry_run.run(repo.context(unreachable, applied_versions=["20240101000000"]))

    assert result.ok, result.summary
    assert result.data["basis"] == "local_migrations"
    assert result.data["notes"][0].startswith("staging could not be read")
    assert "staging unreadable" in result.summary
    assert result.data["pending"] == ["20240102000000_invoices.sql"]
    assert result.data["baseline"]["applied"] == ["20240101000000_init.sql"]


def test_it_drops_the_scratch_database_when_cancelled(repo, staging):
    repo.migration("20240101000000", "init", INIT)
    ctx = repo.context(staging)
    ctx.cancelled = lambda: bool(repo.created)  # cancel once the scratch database exists

    with pytest.raises(JobCancelled):
        dry_run.run(ctx)
    assert repo.created and repo.dropped == repo.created and repo.leftovers() == []


def test_it_runs_two_dry_runs_side_by_side_with_the_same_role_fixtures(
    staging, tmp_path, new_roles
):
    # Both jobs create the same, new roles at the same moment, each in its own sandbox
    # with its own cluster: neither sees the other's roles or databases.
    repo = Project(root=tmp_path, roles=new_roles)
    repo.fixture()
    repo.migration("20240101000000", "init", INIT)
    repo.migration("20240102000000", "invoices", ADD_INVOICES)
    results: list = []
    errors: list = []

    def one() -> None:
        try:
            with open_sandbox(purpose="test") as sandbox:
                sandbox.add_content(tmp_path)
                ctx = repo.context(staging)
                ctx.sandbox = sandbox
                results.append(dry_run.run(ctx))
        except Exception as e:  # reported below with the thread's own error
            errors.append(e)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert [r.ok for r in results] == [True, True], [r.summary for r in results]
    assert len(set(repo.created)) == 2 and repo.leftovers() == []


def test_it_reports_an_extension_the_scratch_server_lacks_as_an_environment_gap(repo, staging):
    repo.migration("20240101000000", "ext", "select 1;\ncreate extension no_such_extension_x;\n")

    result = dry_run.run(repo.context(staging))

    failure = result.data["first_failure"]
    assert failure["environment_gap"] is True and failure["line"] == 2


def test_it_exits_1_with_json_through_manage_py_runner(repo, staging):
    repo.migration("20240101000000", "init", INIT)
    repo.migration("20240102000000", "broken", "select nosuch;")
    done = subprocess.run(
        [sys.executable, "manage.py", "runner", "dry_run", "--supabase-dir", str(repo.supabase),
         "--database-url", staging, "--fixture", str(repo.supabase / "fixtures/roles.sql"),
         "--schema", "public", "--json"],
        cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    assert result["ok"] is False
    assert result["data"]["first_failure"]["file"] == "20240102000000_broken.sql"
    assert result["data"]["first_failure"]["sqlstate"] == "42703"


def test_it_words_the_warning_when_the_scratch_server_is_another_major_version():
    # The only PostgreSQL in the test environment is one version, so the wording is
    # checked directly; dry_run and drift put it first in their notes.
    note = scratch_setup.version_note(
        target_name="staging", target_version="17.4", target_major=17, major=15
    )
    assert note.startswith("the scratch server runs PostgreSQL 15 but staging runs 17.4")
    assert (
        scratch_setup.version_note(
            target_name="staging", target_version="15.2", target_major=15, major=15
        )
        is None
    )


def test_it_copes_with_a_schema_staging_does_not_have(repo, staging):
    repo.migration("20240101000000", "init", INIT)
    repo.apply_to(staging, "20240101000000")
    repo.migration("20240102000000", "app", "create schema app;\ncreate table app.jobs (id int);")
    ctx = repo.context(staging)
    ctx.schemas = ["app", "public"]

    result = dry_run.run(ctx)

    assert result.ok, result.summary
    assert result.data["notes"] == ["staging has no schema app: nothing to copy there"]
    assert result.data["catalog_changes"]["tables"]["added"] == ["app.jobs"]


def test_it_stops_with_the_fixture_line_and_drops_the_scratch_database(repo, staging):
    repo.migration("20240101000000", "init", INIT)
    repo.write("supabase/fixtures/roles.sql", "select 1;\ncreate role;\n")

    with pytest.raises(RunnerError, match=r"fixture .*roles\.sql failed at line 2"):
        dry_run.run(repo.context(staging))
    assert repo.created and repo.leftovers() == []


def test_it_gives_the_scratch_database_staging_s_search_path(repo, staging):
    # Supabase puts extensions on the search_path; a migration using citext unqualified
    # works there, so it must work in the rehearsal too.
    with psycopg.connect(staging, autocommit=True) as conn:
        conn.execute("create schema extensions; create extension citext schema extensions")
        name = conn.info.dbname
        conn.execute(f'alter database "{name}" set search_path = "$user", public, extensions')
    repo.migration("20240101000000", "emails", "create table public.emails (address citext);")

    result = dry_run.run(repo.context(staging))

    assert result.ok, result.summary
    assert result.data["catalog_changes"]["tables"]["added"] == ["public.emails"]


def test_it_reads_staging_through_read_only_transactions(staging):
    with staging_copy.open_target(staging, "staging") as conn:
        state = staging_copy.read_target(conn, schemas=["public"])
        assert state.history == [] and state.schemas_present == ["public"]
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("create table public.should_not_exist (id int)")


def test_it_fails_when_staging_has_history_the_cli_would_refuse(repo, staging):
    repo.migration("20240101000000", "init", INIT)
    repo.migration("20240102000000", "invoices", ADD_INVOICES)
    repo.apply_to(staging, "20240101000000")
    with psycopg.connect(staging, autocommit=True) as conn:
        conn.execute("insert into supabase_migrations.schema_migrations (version) values ('1999')")

    result = dry_run.run(repo.context(staging))

    assert not result.ok and result.data["apply"]["ok"]
    assert result.data["staging"]["remote_only"] == ["1999"]
    assert "the CLI would refuse to push" in result.summary
