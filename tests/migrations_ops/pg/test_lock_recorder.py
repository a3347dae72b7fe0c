"""LockRecorder reads the locks each statement took while apply_files runs, and when they went."""

from __future__ import annotations

import psycopg

from migrations_ops.pg.apply import MigrationFile, apply_files
from migrations_ops.pg.lock_recorder import LockRecorder
from migrations_ops.pg.locks import LockMode

SCHEMA = """
create table public.accounts (id bigint primary key, name text);
insert into public.accounts select i, 'n' || i from generate_series(1, 20000) i;
create table public.other (id int);
"""


def record(url: str, text: str, **options) -> LockRecorder:
    migration = MigrationFile.from_text("20240101000000_x.sql", text)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SCHEMA)
        with LockRecorder(url, conn.info.backend_pid) as recorder:
            report = apply_files(
                conn, [migration], log=lambda s, t: None, record_history=False,
                statement_hook=recorder, **options,
            )  # fmt: skip
    assert report.ok, report.first_failure and report.first_failure.describe()
    return recorder


def test_a_lock_is_held_until_the_files_transaction_commits(database):
    recorder = record(
        database,
        "alter table accounts add column tier text;\n"
        "update accounts set tier = 'basic';\n"
        "create table fresh (id int);\n",
    )
    add, update, create = recorder.observations
    assert add.locks == {"public.accounts": LockMode.ACCESS_EXCLUSIVE}
    # PostgreSQL grants each mode on its own, even under a stronger one the file holds.
    assert update.locks == {"public.accounts": LockMode.ROW_EXCLUSIVE}
    assert update.rows == 20_000
    assert create.locks == {}  # fresh did not exist before the file
    assert add.held_seconds is not None and add.held_seconds >= add.seconds + update.seconds


def test_a_commit_inside_the_file_releases_the_locks_taken_before_it(database):
    recorder = record(
        database,
        "begin;\nlock table other in share mode;\ncommit;\n"
        "begin;\nupdate accounts set name = name;\ncommit;\n",
    )
    lock, commit, update = (
        recorder.observations[1],
        recorder.observations[2],
        recorder.observations[4],
    )
    assert lock.locks == {"public.other": LockMode.SHARE}
    assert lock.held_seconds is not None
    assert lock.held_seconds <= (update.started - lock.started)  # gone before the update began
    assert update.locks == {"public.accounts": LockMode.ROW_EXCLUSIVE}
    assert commit.locks == {}


def test_the_standalone_mode_releases_before_the_statement_it_runs_alone(database):
    recorder = record(
        database,
        "alter table other add column x int;\n"
        "create index concurrently accounts_name on accounts (name);\n",
        non_transactional="standalone",
    )
    alter, index = recorder.observations
    assert alter.locks == {"public.other": LockMode.ACCESS_EXCLUSIVE}
    assert alter.held_seconds is not None and alter.held_seconds <= index.started - alter.started
    # It ran on its own and released its locks as it ended: the prediction stands for it.
    assert index.locks == {} and index.held_seconds is None
