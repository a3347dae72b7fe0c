"""Runner ``pending``: pending, drifted and edited migrations on the target."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from migrations_ops.runners.base import RunContext, RunnerError
from migrations_ops.runners.pending import (
    file_statements,
    normalised_sql,
    run,
    statements_digest,
)
from tests.migrations_ops.supabase_project import supabase_folder, target_database

A_SQL = """-- users
create table users (id int primary key);

/* a comment */
create policy "own rows; only" on users using (id = 1);
"""
# What the CLI's SplitAndTrim records for A_SQL: comments stay with their statement.
A_STATEMENTS = [
    "-- users\ncreate table users (id int primary key)",
    '/* a comment */\ncreate policy "own rows; only" on users using (id = 1)',
]
B_SQL = "create function f() returns int language sql as $$ select 1; $$;\n"
B_STATEMENTS = ["create function f() returns int language sql as $$ select 1; $$"]


def _ctx(folder: Path, url: str | None, **kwargs: Any) -> tuple[RunContext, list[tuple[str, str]]]:
    lines: list[tuple[str, str]] = []
    ctx = RunContext(
        supabase_dir=folder,
        database_url=url,
        target_name="staging",
        log=lambda stream, text: lines.append((stream, text)),
        **kwargs,
    )
    return ctx, lines


def test_it_passes_when_history_matches_the_files(tmp_path):
    folder = supabase_folder(
        tmp_path,
        {"20240101000000_a.sql": A_SQL, "20240102000000_b.sql": B_SQL, "20240103000000_c.sql": ""},
    )
    history = [("20240101000000", "a", A_STATEMENTS), ("20240102000000", "b", B_STATEMENTS)]
    with target_database(history) as url:
        ctx, lines = _ctx(folder, url)
        result = run(ctx)

    assert result.ok, result.summary
    assert [a["filename"] for a in result.data["applied"]] == [
        "20240101000000_a.sql",
        "20240102000000_b.sql",
    ]
    assert result.data["pending"] == [
        {
            "filename": "20240103000000_c.sql",
            "version": "20240103000000",
            "name": "c",
            "older_than_newest_applied": False,
        }
    ]
    assert result.data["changed"] == result.data["remote_only"] == []
    assert result.summary == (
        "staging: 2 applied, 1 pending, 0 applied without a local file, 0 changed since applied"
    )
    assert ("info", "pending: 20240103000000_c.sql") in lines


def test_it_fails_on_versions_applied_without_a_local_file(tmp_path):
    folder = supabase_folder(tmp_path, {"20240101000000_a.sql": A_SQL})
    history = [
        ("20240101000000", "a", A_STATEMENTS),
        ("20240105103000", "dashboard_fix", ["alter table users add x int"]),
    ]
    with target_database(history) as url:
        ctx, lines = _ctx(folder, url)
        result = run(ctx)

    assert not result.ok
    assert result.data["remote_only"] == [
        {"version": "20240105103000", "name": "dashboard_fix", "created_by": None}
    ]
    assert result.summary.endswith(": 20240105103000")
    assert any(s == "error" and "repair --status reverted 20240105103000" in t for s, t in lines)


def test_it_fails_when_an_applied_file_was_edited(tmp_path):
    edited = A_SQL.replace("id int primary key", "id bigint primary key")
    folder = supabase_folder(tmp_path, {"20240101000000_a.sql": edited})
    with target_database([("20240101000000", "a", A_STATEMENTS)]) as url:
        ctx, _ = _ctx(folder, url)
        result = run(ctx)

    assert not result.ok
    [changed] = result.data["changed"]
    assert changed["filename"] == "20240101000000_a.sql"
    assert changed["recorded_statements"] == 2
    assert changed["recorded_sha256"] != changed["file_sha256"]
    assert "edited afterwards" in changed["message"]
    assert result.summary.endswith("1 changed since applied: 20240101000000_a.sql")


def test_it_matches_a_dashboard_row_holding_the_whole_file_as_one_statement(tmp_path):
    folder = supabase_folder(tmp_path, {"20240101000000_a.sql": A_SQL})
    with target_database([("20240101000000", "a", [A_SQL])]) as url:
        ctx, _ = _ctx(folder, url)
        result = run(ctx)
    assert result.ok, result.summary


def test_it_lists_rows_without_statements_as_not_recorded(tmp_path):
    folder = supabase_folder(tmp_path, {"20240101000000_a.sql": A_SQL})
    with target_database([("20240101000000", "a", None)]) as url:
        ctx, _ = _ctx(folder, url)
        result = run(ctx)
    assert result.ok
    assert result.data["not_recorded"] == [
        {"version": "20240101000000", "filename": "20240101000000_a.sql"}
    ]
    assert "(1 applied without recorded statements)" in result.summary


def test_it_marks_pending_files_older_than_the_newest_applied(tmp_path):
    folder = supabase_folder(
        tmp_path,
        {
            "20240101000000_a.sql": A_SQL,
            "20231231000000_old.sql": "",
            "20240102000000_b.sql": B_SQL,
        },
    )
    history = [("20240101000000", "a", A_STATEMENTS), ("20240102000000", "b", B_STATEMENTS)]
    with target_database(history) as url:
        ctx, lines = _ctx(folder, url)
        result = run(ctx)
    assert result.ok
    assert [(p["filename"], p["older_than_newest_applied"]) for p in result.data["pending"]] == [
        ("20231231000000_old.sql", True)
    ]
    assert any("needs --include-all" in t for _, t in lines)


def test_it_sees_everything_pending_on_a_target_without_history(tmp_path):
    folder = supabase_folder(tmp_path, {"20240101000000_a.sql": A_SQL})
    with target_database(None) as url:
        ctx, _ = _ctx(folder, url)
        result = run(ctx)
    assert result.ok
    assert [p["filename"] for p in result.data["pending"]] == ["20240101000000_a.sql"]


def test_it_fails_fast_with_the_target_name_when_the_database_is_down(tmp_path):
    folder = supabase_folder(tmp_path, {"20240101000000_a.sql": A_SQL})
    ctx, _ = _ctx(folder, "postgresql://postgres@127.0.0.1:1/postgres")
    with pytest.raises(
        RunnerError, match=r"^could not connect to staging \(127\.0\.0\.1:1\): "
    ) as e:
        run(ctx)
    # libpq's reason and its hint, on one line: not the hint alone, tab-indented.
    assert str(e.value) == (
        "could not connect to staging (127.0.0.1:1): Connection refused. "
        "Is the server running on that host and accepting TCP/IP connections?"
    )


def test_it_needs_a_database_url(tmp_path):
    ctx, _ = _ctx(supabase_folder(tmp_path, {}), None)
    with pytest.raises(RunnerError, match="no database URL for staging"):
        run(ctx)


def test_it_reports_a_history_table_it_may_not_read(tmp_path):
    folder = supabase_folder(tmp_path, {"20240101000000_a.sql": A_SQL})
    role = f"rp_test_reader_{uuid.uuid4().hex[:8]}"
    with target_database([("20240101000000", "a", None)]) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {role} LOGIN")
        try:
            ctx, _ = _ctx(folder, url.replace("postgres@", f"{role}@", 1))
            with pytest.raises(RunnerError, match="grant the portal's database user SELECT"):
                run(ctx)
        finally:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"DROP ROLE {role}")


def test_it_normalises_comments_whitespace_and_semicolons_but_not_quoted_text():
    assert normalised_sql("select 1; -- c\n/* x /* nested */ y */select  2;") == "select 1 select 2"
    assert normalised_sql("select ';  --kept'") == "select ';  --kept'"
    assert normalised_sql("do $body$ a;  -- b $body$") == "do $body$ a;  -- b $body$"
    assert normalised_sql('select "a;  b"') == 'select "a;  b"'


def test_it_digests_the_recorded_statements_and_the_file_alike():
    assert statements_digest(A_STATEMENTS) == statements_digest(file_statements(A_SQL))
    assert statements_digest(B_STATEMENTS) == statements_digest(file_statements(B_SQL))
    assert statements_digest(["select 1"]) != statements_digest(["select 2"])
