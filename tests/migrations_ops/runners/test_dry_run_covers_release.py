"""Issue 13 case 3: the dry run covers the release, not only its pending files.

A file changed after it was applied used to pass as "no pending migrations: nothing to
apply", so the changed SQL ran nowhere. A missing object the target has was blamed on the
migration file ("fix the statement"), when the copy of the target simply lacked it.
"""

from __future__ import annotations

import psycopg

from migrations_ops.runners import dry_run, pending
from tests.migrations_ops.runners.test_dry_run import ADD_INVOICES, INIT

CHANGED_INIT = INIT + "create index accounts_owner on public.accounts (owner);\n"


def test_a_file_changed_since_applied_fails_the_dry_run_with_what_differs(repo, staging):
    repo.migration("20240101000000", "init", INIT)
    repo.apply_to(staging, "20240101000000")
    repo.migration("20240101000000", "init", CHANGED_INIT)  # edited after it ran

    result = dry_run.run(repo.context(staging))

    assert not result.ok, result.summary
    assert "nothing to apply" in result.summary
    assert "20240101000000_init.sql" in result.summary
    assert "changed since applied" in result.summary
    changed = result.data["staging"]["changed"]
    assert [c["filename"] for c in changed] == ["20240101000000_init.sql"]
    assert changed[0]["recorded_sha256"] != changed[0]["file_sha256"]
    # The pending check says the same.
    checked = pending.run(repo.context(staging))
    assert not checked.ok
    assert [c["filename"] for c in checked.data["changed"]] == ["20240101000000_init.sql"]


def test_a_changed_applied_file_fails_even_when_pending_files_apply(repo, staging):
    repo.migration("20240101000000", "init", INIT)
    repo.apply_to(staging, "20240101000000")
    repo.migration("20240101000000", "init", CHANGED_INIT)
    repo.migration("20240102000000", "invoices", ADD_INVOICES)

    result = dry_run.run(repo.context(staging))

    assert not result.ok, result.summary
    assert result.data["apply"]["ok"]
    assert "differ from what staging recorded" in result.summary


def test_nothing_to_apply_passes_when_the_files_match_the_history_exactly(repo, staging):
    repo.migration("20240101000000", "init", INIT)
    repo.apply_to(staging, "20240101000000")

    result = dry_run.run(repo.context(staging))

    assert result.ok, result.summary
    assert result.summary == "no pending migrations: nothing to apply"
    assert result.data["staging"]["changed"] == []


def test_a_history_row_without_statements_is_a_warning_not_a_failure(repo, staging):
    repo.migration("20240101000000", "init", INIT)
    repo.apply_to(staging, "20240101000000")
    with psycopg.connect(staging, autocommit=True) as conn:
        # What `supabase migration repair --status applied` writes: no statements.
        conn.execute("update supabase_migrations.schema_migrations set statements = null")
    repo.migration("20240101000000", "init", CHANGED_INIT)

    result = dry_run.run(repo.context(staging))

    assert result.ok, result.summary
    assert result.data["staging"]["not_recorded"] == ["20240101000000_init.sql"]
    assert any("no statements recorded" in note for note in result.data["notes"])


def test_the_copy_holds_every_schema_of_the_target_not_only_the_projects(repo, staging):
    repo.migration("20240101000000", "init", INIT)
    repo.apply_to(staging, "20240101000000")
    with psycopg.connect(staging, autocommit=True) as conn:
        conn.execute("create schema billing; create table billing.plans (id int primary key)")
    repo.migration(
        "20240102000000",
        "subscriptions",
        "create table public.subscriptions (plan int references billing.plans (id));",
    )
    ctx = repo.context(staging)
    assert ctx.schemas == ["public"]  # the project's (backup) schemas leave billing out

    result = dry_run.run(ctx)

    assert result.ok, result.summary
    assert "billing" in result.data["copied_schemas"]
    assert "auth" not in result.data["copied_schemas"]  # the fixtures make Supabase's own


def test_a_missing_object_the_target_has_is_a_copy_gap_not_the_files_fault(repo, staging):
    repo.migration("20240101000000", "init", INIT)
    repo.apply_to(staging, "20240101000000")
    with psycopg.connect(staging, autocommit=True) as conn:
        conn.execute("create schema billing; create table billing.plans (id int primary key)")
    repo.migration(
        "20240102000000",
        "subscriptions",
        "create table public.subscriptions (plan int references billing.plans (id));",
    )

    result = dry_run.run(repo.context(staging, copy_schemas=["public"]))

    assert not result.ok
    first = result.data["first_failure"]
    assert first["kind"] == "copy_gap", first
    assert "exists on staging but not in the dry run's copy" in first["advice"]
    assert "fix the statement" not in first["advice"]
    assert "copy gap" in result.summary


def test_a_missing_object_the_target_lacks_too_is_the_files_fault(repo, staging):
    repo.migration("20240101000000", "init", INIT)
    repo.apply_to(staging, "20240101000000")
    repo.migration(
        "20240102000000", "broken", "create table public.x (plan int references nowhere.plans);"
    )

    result = dry_run.run(repo.context(staging))

    assert not result.ok
    assert result.data["first_failure"]["kind"] == "migration_error"
