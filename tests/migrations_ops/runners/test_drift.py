"""drift compares staging with a scratch database rebuilt from staging's own history."""

from __future__ import annotations

import psycopg
import pytest

from migrations_ops.runners import drift
from migrations_ops.runners.base import RunnerError

INIT = """
create extension if not exists citext;
create table public.accounts (id uuid primary key, owner uuid references auth.users (id),
                              email citext);
alter table public.accounts enable row level security;
create policy "owners read" on public.accounts for select to {authenticated}
  using (owner = auth.uid());
"""
NOTES = "create table public.notes (id bigint primary key, body text);\n"
NOT_YET = "create table public.not_yet_applied (id int);\n"


@pytest.fixture
def applied(repo, staging):
    repo.migration("20240101000000", "init", INIT)
    repo.migration("20240102000000", "notes", NOTES)
    repo.migration("20240103000000", "pending", NOT_YET)  # local only: not drift
    repo.apply_to(staging, "20240101000000", "20240102000000")
    return staging


def test_it_finds_no_drift_when_staging_matches_its_migrations(repo, applied):
    result = drift.run(repo.context(applied))

    assert result.ok, result.summary
    assert result.data["only_in_staging"] == {} and result.data["changed"] == {}
    assert result.data["rebuild"]["applied"] == ["20240101000000_init.sql",
                                                 "20240102000000_notes.sql"]  # fmt: skip
    assert repo.created and repo.leftovers() == []


def test_it_lists_what_was_changed_by_hand_on_staging(repo, applied):
    with psycopg.connect(applied, autocommit=True) as conn:
        conn.execute("create table public.hand_made (id int)")
        conn.execute("alter table public.notes add column pinned boolean")
        conn.execute('drop policy "owners read" on public.accounts')
        conn.execute("alter table public.accounts disable row level security")

    result = drift.run(repo.context(applied))

    assert not result.ok
    data = result.data
    assert data["only_in_staging"] == {"tables": ["public.hand_made"]}
    assert data["only_in_migrations"] == {"policies": ["public.accounts.owners read"]}
    changed = data["changed"]["tables"]
    assert list(changed["public.notes"]["changed"]["columns"]["added"]) == ["pinned"]
    assert changed["public.accounts"]["changed"]["rls"] == {"before": True, "after": False}
    assert "1 object(s) only in staging, 1 only in the migrations, 2 changed" in result.summary
    assert repo.leftovers() == []


def test_it_says_when_history_names_a_migration_it_cannot_rebuild(repo, applied):
    with psycopg.connect(applied, autocommit=True) as conn:
        conn.execute(
            "insert into supabase_migrations.schema_migrations (version, name) "
            "values ('20231231000000', 'lost')"
        )
    result = drift.run(repo.context(applied))
    assert not result.ok
    assert result.data["remote_only"] == ["20231231000000"]
    assert "no local file" in result.data["notes"][0]


def test_it_needs_staging(repo):
    repo.migration("20240101000000", "init", INIT)
    with pytest.raises(RunnerError, match="could not connect to staging"):
        drift.run(repo.context("postgresql://postgres@127.0.0.1:1/staging"))
