"""Runner ``apply`` against real throwaway databases: the CLI's history, failures, guards."""

from __future__ import annotations

import psycopg
import pytest

from migrations_ops.runners import apply
from migrations_ops.runners.base import RunContext, RunnerError
from migrations_ops.runners.pending import file_statements
from tests.migrations_ops.supabase_project import (
    CLI_HISTORY_DDL,
    CLI_INSERT,
    supabase_folder,
    target_database,
)

FILES = {
    "20250101000000_create_app.sql": "create schema if not exists app;\n",
    "20250102000000_members.sql": (
        "-- members of a group\n"
        "create table app.members (id bigint primary key, name text not null);\n"
        "alter table app.members enable row level security;\n"
    ),
    "20250103000000_notes.sql": (
        "create table app.notes (id bigint primary key, body text);\n"
        "create function app.one() returns int language sql as $$ select 1; $$;\n"
    ),
}
BROKEN = "create table app.broken (id int);\n\ninsert into app.broken\n  values (nosuch);\n"


def context(folder, url, **options) -> tuple[RunContext, list[tuple[str, str]]]:
    lines: list[tuple[str, str]] = []
    ctx = RunContext(
        supabase_dir=folder,
        database_url=url,
        target_name="staging",
        options=options,
        log=lambda stream, text: lines.append((stream, text)),
    )
    return ctx, lines


def history(url) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select version, name, statements from supabase_migrations.schema_migrations "
            "order by version"
        ).fetchall()


def exists(url, name):
    with psycopg.connect(url) as conn:
        return conn.execute("select to_regclass(%s) is not null", [name]).fetchone()[0]


def cli_history(files: dict[str, str]) -> list[tuple]:
    """The rows the Supabase CLI's own SQL writes for these files (history.go, apply.go)."""
    with target_database() as url:
        with psycopg.connect(url, autocommit=True) as conn:
            for statement in CLI_HISTORY_DDL:
                conn.execute(statement)
            for filename, text in sorted(files.items()):
                version, name = filename.removesuffix(".sql").split("_", 1)
                conn.execute(CLI_INSERT, [version, name, file_statements(text)])
        return history(url)


def test_it_applies_pending_files_and_records_history_like_the_cli(tmp_path):
    folder = supabase_folder(tmp_path, FILES)
    with target_database() as url:
        ctx, lines = context(folder, url)
        result = apply.run(ctx)
        assert result.ok, result.summary
        assert result.summary == "applied 3 migration(s) to staging"
        assert history(url) == cli_history(FILES)
        assert exists(url, "app.members") and exists(url, "app.notes")
    assert ("info", "Applying migration 20250102000000_members.sql...") in lines
    assert result.data["applied"] == sorted(FILES)
    assert result.data["newest_applied_after"] == "20250103000000"


def test_it_applies_only_what_is_pending(tmp_path):
    folder = supabase_folder(tmp_path, FILES)
    first = "20250101000000_create_app.sql"
    applied = [("20250101000000", "create_app", file_statements(FILES[first]))]
    with target_database(applied) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(FILES[first])
        result = apply.run(context(folder, url)[0])
        assert result.ok, result.summary
        assert result.data["applied"] == ["20250102000000_members.sql", "20250103000000_notes.sql"]
        assert history(url) == cli_history(FILES)


def test_it_stops_at_the_failing_file_and_says_which_statement_and_line(tmp_path):
    files = {**FILES, "20250102120000_broken.sql": BROKEN}
    folder = supabase_folder(tmp_path, files)
    with target_database() as url:
        ctx, lines = context(folder, url)
        result = apply.run(ctx)
        assert not result.ok
        # The earlier files stay committed, the failing one left nothing, later ones waited.
        assert [row[0] for row in history(url)] == ["20250101000000", "20250102000000"]
        assert exists(url, "app.members")
        assert not exists(url, "app.broken") and not exists(url, "app.notes")
    failure = result.data["first_failure"]
    assert (failure["file"], failure["statement"], failure["line"], failure["sqlstate"]) == (
        "20250102120000_broken.sql", 2, 4, "42703")  # fmt: skip
    assert result.data["not_attempted"] == ["20250103000000_notes.sql"]
    assert "20250102120000_broken.sql line 4 (statement 2)" in result.summary
    assert "2 earlier file(s) stay applied, 1 later file(s) not attempted" in result.summary
    assert any(stream == "error" and "nosuch" in text for stream, text in lines)


def test_it_applies_nothing_when_run_again(tmp_path):
    folder = supabase_folder(tmp_path, FILES)
    with target_database() as url:
        assert apply.run(context(folder, url)[0]).ok
        before = history(url)
        again = apply.run(context(folder, url)[0])
        assert again.ok
        assert again.summary == "staging is up to date: nothing to apply"
        assert again.data["apply"]["files"] == []
        assert history(url) == before


def test_it_refuses_remote_only_drift_as_the_cli_does(tmp_path):
    folder = supabase_folder(tmp_path, FILES)
    with target_database([("20241231000000", "hotfix", ["select 1"])]) as url:
        result = apply.run(context(folder, url)[0])
        assert not result.ok
        assert "Remote migration versions not found in local migrations directory" in (
            result.summary
        )
        assert "supabase migration repair --status reverted 20241231000000" in result.summary
        assert [row[0] for row in history(url)] == ["20241231000000"]
        assert not exists(url, "app.members")


def test_it_applies_files_older_than_the_newest_applied_only_with_include_all(tmp_path):
    folder = supabase_folder(tmp_path, FILES)
    newest = "20250103000000_notes.sql"
    with target_database([("20250103000000", "notes", file_statements(FILES[newest]))]) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("create schema app;" + FILES[newest])
        refused = apply.run(context(folder, url)[0])
        assert not refused.ok and "--include-all" in refused.summary
        assert len(history(url)) == 1
        included = apply.run(context(folder, url, include_all=True)[0])
        assert included.ok, included.summary
        assert [row[0] for row in history(url)] == [
            "20250101000000", "20250102000000", "20250103000000"]  # fmt: skip


def test_it_refuses_a_second_apply_to_the_same_database_at_once(tmp_path):
    folder = supabase_folder(tmp_path, FILES)
    with target_database() as url, psycopg.connect(url, autocommit=True) as holder:
        holder.execute("select pg_advisory_lock(%s)", [apply.APPLY_LOCK_KEY])
        with pytest.raises(RunnerError, match="another apply is running against staging"):
            apply.run(context(folder, url)[0])
        assert not exists(url, "supabase_migrations.schema_migrations")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "not started through the release's deploy action"),
        ({"approved_digest": "a" * 64, "release_digest": "a" * 64}, "not started through"),
    ],
)
def test_it_refuses_production_without_a_current_approval(tmp_path, options, message):
    folder = supabase_folder(tmp_path, FILES)
    with target_database() as url:
        ctx, _ = context(folder, url, target_kind="production", **options)
        with pytest.raises(apply.ProductionGuard, match=message):
            apply.run(ctx)
        assert not exists(url, "supabase_migrations.schema_migrations")


def test_it_holds_production_when_the_release_changed_after_approval(tmp_path):
    """Nothing is applied, and the result says it was held (not failed on production):
    the deployment's end hands the release back instead of marking it failed."""
    folder = supabase_folder(tmp_path, FILES)
    with target_database() as url:
        ctx, _ = context(
            folder, url, target_kind="production", gate_checked=True,
            approved_digest="a" * 64, release_digest="b" * 64,
        )  # fmt: skip
        result = apply.run(ctx)
        assert not result.ok
        assert "the release changed after the gate approved it" in result.summary
        assert "nothing was applied" in result.summary
        assert result.data["held"] == result.summary
        assert not exists(url, "supabase_migrations.schema_migrations")


def test_it_applies_to_production_with_the_approved_digest(tmp_path):
    folder = supabase_folder(tmp_path, FILES)
    digest = "c" * 64
    with target_database() as url:
        ctx, _ = context(
            folder, url, target_kind="production", gate_checked=True,
            approved_digest=digest, release_digest=digest,
        )  # fmt: skip
        result = apply.run(ctx)
        assert result.ok, result.summary
        assert len(history(url)) == 3
