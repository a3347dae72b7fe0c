"""apply_files applies migrations the Supabase CLI way, against real PostgreSQL."""

from __future__ import annotations

import psycopg
import pytest

from migrations_ops.pg.apply import MigrationFile, apply_files
from migrations_ops.pg.apply_report import Kind


def m(version: str, text: str, name: str = "step") -> MigrationFile:
    return MigrationFile.from_text(f"{version}_{name}.sql", text)


def run(conn, *files, **options):
    lines: list[tuple[str, str]] = []
    report = apply_files(conn, list(files), log=lambda s, t: lines.append((s, t)), **options)
    return report


def history(conn) -> list[tuple]:
    return conn.execute(
        "SELECT version, name, statements FROM supabase_migrations.schema_migrations "
        "ORDER BY version"
    ).fetchall()


def table_exists(conn, name: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", [name]).fetchone()[0]


def test_it_creates_the_history_table_like_the_cli(conn):
    run(conn, m("20240101000000", "select 1;"))
    columns = conn.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = 'supabase_migrations' AND table_name = 'schema_migrations' "
        "ORDER BY ordinal_position"
    ).fetchall()
    assert columns == [("version", "text", "NO"), ("statements", "ARRAY", "YES"),
                       ("name", "text", "YES")]  # fmt: skip


def test_it_records_each_file_with_its_statements(conn):
    report = run(conn, m("20240101000000", "create table a (id int);\n-- done\n", "init"))
    assert report.ok
    assert history(conn) == [("20240101000000", "init", ["create table a (id int)", "-- done"])]


def test_it_reports_the_file_statement_line_and_sqlstate_of_a_failure(conn):
    text = "create table a (id int);\n\ninsert into a\n  values (1),\n         (nosuch);\n"
    report = run(conn, m("20240101000000", "select 1;"), m("20240102000000", text, "bad"))
    failure = report.first_failure
    assert not report.ok
    assert (failure.file, failure.statement, failure.line, failure.sqlstate) == (
        "20240102000000_bad.sql", 2, 5, "42703")  # fmt: skip
    assert failure.kind == Kind.MIGRATION_ERROR and not failure.environment_gap
    assert 'column "nosuch" does not exist' in failure.describe()


def test_it_rolls_back_the_whole_failing_file(conn):
    report = run(conn, m("20240101000000", "create table a (id int);\nselect 1/0;"))
    assert report.first_failure.sqlstate == "22012"
    assert not table_exists(conn, "a")
    assert history(conn) == []


def test_it_stops_at_the_first_failure_unless_told_otherwise(conn):
    files = [m("1", "select 1/0;"), m("2", "create table b (id int);")]
    stopped = run(conn, *files)
    assert stopped.not_attempted == ["2_step.sql"] and not table_exists(conn, "b")
    carried_on = run(conn, *files, stop_on_error=False)
    assert [f.ok for f in carried_on.files] == [False, True] and table_exists(conn, "b")


def test_it_runs_a_file_with_its_own_begin_and_commit_as_written(conn):
    text = "create table a (id int);\nbegin;\ncreate table b (id int);\ncommit;\n"
    report = run(conn, m("20240101000000", text, "own"))
    assert report.ok and report.files[0].mode == "own_transactions"
    assert table_exists(conn, "a") and table_exists(conn, "b")
    assert history(conn)[0][2] == ["create table a (id int)", "begin", "create table b (id int)",
                                   "commit"]  # fmt: skip


def test_it_keeps_what_a_self_managed_file_committed_before_failing_like_the_cli(conn):
    text = "begin;\ncreate table a (id int);\ncommit;\nselect 1/0;\n"
    report = run(conn, m("20240101000000", text))
    assert report.first_failure.line == 4
    assert table_exists(conn, "a")  # committed by the file itself
    assert history(conn) == []  # but the file is not recorded


def test_it_reports_a_transaction_the_file_never_commits(conn):
    report = run(conn, m("20240101000000", "select 1;\nbegin;\ncreate table a (id int);\n"))
    failure = report.first_failure
    assert failure.kind == Kind.TRANSACTION_LEFT_OPEN and failure.line == 2
    assert not table_exists(conn, "a") and history(conn) == []


def test_it_lets_the_next_file_use_an_enum_value_added_by_the_previous_one(conn):
    report = run(
        conn,
        m("1", "create type mood as enum ('happy');"),
        m("2", "alter type mood add value 'sad';"),
        m("3", "create table feeling (m mood default 'sad');\ninsert into feeling default values;"),
    )
    assert report.ok, report.first_failure and report.first_failure.describe()


def test_it_fails_like_postgresql_when_an_enum_value_is_used_in_the_same_file(conn):
    report = run(
        conn,
        m("1", "create type mood as enum ('happy');"),
        m("2", "alter type mood add value 'sad';\nselect 'sad'::mood;"),
    )
    assert report.first_failure.sqlstate == "55P04"
    assert report.first_failure.line == 2


def test_it_resets_settings_between_files(conn):
    report = run(
        conn,
        m("1", "create schema elsewhere;\nset search_path = elsewhere;"),
        m("2", "select pg_catalog.set_config('search_path', 'elsewhere', false);"),
        m("3", "create table landed (id int);"),
    )
    assert report.ok
    assert table_exists(conn, "public.landed")


def test_it_reports_create_index_concurrently_as_unable_to_run_in_a_transaction(conn):
    report = run(
        conn,
        m("1", "create table a (id int);"),
        m("2", "select 1;\n\ncreate index concurrently a_id on a (id);", "index"),
    )
    failure = report.first_failure
    assert (failure.sqlstate, failure.kind, failure.statement, failure.line) == (
        "25001", Kind.CANNOT_RUN_IN_TRANSACTION, 2, 3)  # fmt: skip
    assert "migration file of its own" in failure.advice


def test_it_runs_create_index_concurrently_on_its_own_like_newer_clis_when_asked(conn):
    report = run(
        conn,
        m("1", "create table a (id int);\ncreate index concurrently a_id on a (id);\n"),
        non_transactional="standalone",
    )
    assert report.ok and "ran on its own" in report.files[0].notes[0]
    assert table_exists(conn, "a_id") and len(history(conn)) == 1


def test_it_calls_a_missing_extension_an_environment_gap(conn):
    report = run(conn, m("1", "create extension if not exists surely_not_installed_ext;"))
    failure = report.first_failure
    assert failure.sqlstate in ("58P01", "0A000")
    assert failure.environment_gap and failure.kind == Kind.ENVIRONMENT_GAP


def test_it_calls_a_missing_role_an_environment_gap(conn):
    report = run(conn, m("1", "create table a (id int);\ngrant select on a to no_such_role_x;"))
    failure = report.first_failure
    assert (failure.sqlstate, failure.environment_gap, failure.line) == ("42704", True, 2)


def test_it_calls_a_missing_supabase_schema_an_environment_gap(conn):
    text = "create table profiles (id uuid references auth.users (id));"
    failure = run(conn, m("1", text)).first_failure
    assert failure.sqlstate in ("3F000", "42P01") and failure.environment_gap


def test_it_does_not_call_a_typo_an_environment_gap(conn):
    failure = run(conn, m("1", "create table a (id int references nosuch (id));")).first_failure
    assert failure.sqlstate == "42P01" and not failure.environment_gap


def test_it_maps_an_error_inside_a_do_block_to_the_file_line(conn):
    text = "select 1;\ndo $$\nbegin\n  perform 1;\n  raise exception 'boom';\nend $$;\n"
    failure = run(conn, m("1", text)).first_failure
    assert failure.message == "boom" and failure.line == 5


def test_it_applies_an_empty_migration_and_records_it(conn):
    report = run(conn, m("20240101000000", "", "empty"), m("20240101000001", "-- nothing\n"))
    assert report.ok
    assert history(conn) == [("20240101000000", "empty", []),
                             ("20240101000001", "step", ["-- nothing"])]  # fmt: skip


def test_it_applies_a_5_mb_migration(conn):
    rows = ",".join(f"({i}, '{'x' * 40}; not a separator')" for i in range(500))
    insert = f"insert into big values {rows};\n"  # noqa: S608
    text = "create table big (id int, label text);\n" + insert * 220
    assert len(text) > 5_000_000
    report = run(conn, m("1", text, "big"))
    assert report.ok and report.files[0].statements == 221
    assert conn.execute("select count(*) from big").fetchone()[0] == 110_000


def test_it_fails_clearly_when_another_session_holds_a_lock(conn, database):
    conn.execute("create table busy (id int)")
    with psycopg.connect(database) as other:  # not autocommit: the lock stays held
        other.execute("lock table busy in access exclusive mode")
        report = run(conn, m("1", "alter table busy add column x int;"), lock_timeout="200ms")
    failure = report.first_failure
    assert (failure.sqlstate, failure.kind) == ("55P03", Kind.LOCK_TIMEOUT)
    assert "lock timeout" in failure.message and "lock_timeout" in failure.advice


def test_it_explains_a_version_already_in_the_history(conn):
    run(conn, m("1", "select 1;"))
    failure = run(conn, m("1", "select 2;")).first_failure
    assert failure.sqlstate == "23505" and failure.statement is None
    assert "already in the history table" in failure.advice


def test_it_rolls_back_when_the_checkpoint_raises(conn):
    class Stop(Exception):
        pass

    calls = []

    def checkpoint():
        calls.append(1)
        if len(calls) == 2:
            raise Stop

    with pytest.raises(Stop):
        run(conn, m("1", "create table a (id int);"), m("2", "create table b (id int);"),
            checkpoint=checkpoint)  # fmt: skip
    assert table_exists(conn, "a") and not table_exists(conn, "b")
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_it_refuses_a_connection_that_is_not_in_autocommit(database):
    with psycopg.connect(database) as plain, pytest.raises(ValueError, match="autocommit"):
        apply_files(plain, [], log=lambda s, t: None)


def test_it_refuses_a_file_name_the_cli_would_skip():
    with pytest.raises(ValueError, match=r"<version>_<name>\.sql"):
        MigrationFile.from_text("init.sql", "select 1;")


def test_it_reads_results_as_text_like_the_cli(conn):
    # A type without a binary output function: binary results would fail here.
    text = """
create type plain_text;
create function plain_text_in(cstring) returns plain_text as 'textin' language internal
  immutable strict;
create function plain_text_out(plain_text) returns cstring as 'textout' language internal
  immutable strict;
create type plain_text (input = plain_text_in, output = plain_text_out, like = text);
select 'x'::plain_text;
"""
    report = run(conn, m("1", text))
    assert report.ok, report.first_failure and report.first_failure.describe()


def test_it_refuses_two_commands_in_one_statement_as_the_cli_does(conn):
    # The CLI's splitter does not know E'...' escapes: it reads \' as the end of the string,
    # so the next ' opens one and the two ';' after it do not split. PostgreSQL then gets
    # three commands as one prepared statement and refuses, for the CLI and here alike.
    text = "select 0;\nselect E'it\\'s';\nselect 2;\nselect 'x';\n"
    assert len(MigrationFile.from_text("1_x.sql", text).statements) == 2
    failure = run(conn, m("1", text)).first_failure
    assert (failure.sqlstate, failure.statement, failure.line) == ("42601", 2, 2)
    assert "multiple commands" in failure.message


def test_it_fails_copy_from_stdin_clearly_and_keeps_the_connection_usable(conn):
    report = run(conn, m("1", "create table t (id int);\ncopy t from stdin;\n"))
    failure = report.first_failure
    assert failure.line == 2 and "COPY FROM stdin cannot run in a migration file" in failure.message
    assert conn.execute("select 1").fetchone() == (1,)


def test_it_calls_a_missing_auth_function_an_environment_gap(conn):
    conn.execute("create schema auth")
    failure = run(conn, m("1", "select auth.uid();")).first_failure
    assert (failure.sqlstate, failure.environment_gap) == ("42883", True)
    assert "Supabase's auth schema" in failure.advice


def test_it_suggests_schema_qualifying_an_extension_type(conn):
    failure = run(conn, m("1", "create table emails (address citext);")).first_failure
    assert (failure.sqlstate, failure.environment_gap) == ("42704", False)
    assert "extensions.citext" in failure.advice


def test_it_suggests_schema_qualifying_an_extension_function(conn):
    conn.execute("create schema extensions")
    failure = run(conn, m("1", "select uuid_generate_v4();")).first_failure
    assert failure.sqlstate == "42883" and "extensions.uuid_generate_v4" in failure.advice
