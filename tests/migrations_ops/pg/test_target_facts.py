"""target_facts reads sizes and counts data loss on a target with tens of thousands of rows.

Everything runs in READ ONLY transactions with timeouts: the tests check the counts, the
sampling on "very large" tables (made large by lowering the limit), and that a lock held
by someone else makes the reader give up instead of queueing.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from migrations_ops.pg import pgtools, release_risk, scratch, target_facts
from migrations_ops.pg.apply import MigrationFile
from migrations_ops.pg.partition_pruning import PartitionBound, PartitionKey

ROWS = 40_000
TARGET = """
create table public.accounts (
  id bigint primary key,
  name text,
  balance bigint,
  note text,
  amount numeric(12, 4),
  at timestamptz
);
insert into public.accounts
select i,
       case when i % 5 = 0 then repeat('x', 30) else 'n' || i end,
       case when i % 1000 = 0 then 5000000000 else i end,
       case when i % 4 = 0 then null else 'note ' || i end,
       case when i % 2 = 0 then i + 0.5 else i end,
       timestamptz '2024-01-01 00:00:00+00' + make_interval(days => i % 7)
         + case when i % 3 = 0 then interval '5 hours' else interval '0' end
from generate_series(1, 40000) i;
create table public.ledger (id bigint primary key, account_id bigint references public.accounts);
insert into public.ledger select i, i from generate_series(1, 1000) i;
alter table public.ledger add constraint ledger_id_positive check (id > 0) not valid;
create table public.events (id bigint, at date) partition by range (at);
create table public.events_2024 partition of public.events
  for values from ('2024-01-01') to ('2025-01-01') partition by range (at);
create table public.events_2024_01 partition of public.events_2024
  for values from ('2024-01-01') to ('2024-02-01');
create table public.events_default partition of public.events default;
create table public.base (id int);
create table public.base_kid () inherits (public.base);
create table public.other_base (n int);
create table public.both_kid () inherits (public.base, public.other_base);
create view public.account_names as select id, name from public.accounts;
create materialized view public.ledger_total as
  select count(*) from public.ledger join public.account_names n on n.id = account_id;
analyze;
"""


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    with scratch.scratch_database(
        purpose="test_facts", server_url=pgtools.scratch_server_url()
    ) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            # Casting timestamptz to date depends on the session's time zone.
            conn.execute(f"alter database {conn.info.dbname} set timezone = 'UTC'")
            conn.execute("set timezone = 'UTC'")
            conn.execute(TARGET)
        yield url


def assess(url: str, text: str, **count_options) -> tuple[list, list[target_facts.LossCount]]:
    files = release_risk.analyse_files([MigrationFile.from_text("20240101000000_x.sql", text)])
    with psycopg.connect(url, autocommit=True) as conn:
        facts = target_facts.read_catalog(conn, source="staging")
        target_facts.read_details(
            conn, facts, touched=release_risk.touched_names(files, facts.search_path)
        )
        settled = release_risk.Resolver(facts).resolve(files)
        requests = [r for s in settled for r in s.counts]
        counts = target_facts.count_losses(conn, requests, facts, **count_options)
    return requests, counts


def test_it_reads_sizes_and_columns_of_the_tables_a_release_touches(target):
    files = release_risk.analyse_files(
        [MigrationFile.from_text("20240101000000_x.sql", "alter table accounts drop column note;")]
    )
    with psycopg.connect(target, autocommit=True) as conn:
        facts = target_facts.read_catalog(conn, source="staging")
        target_facts.read_details(
            conn, facts, touched=release_risk.touched_names(files, facts.search_path)
        )
    accounts = facts.relations["public.accounts"]
    assert accounts.rows == ROWS and accounts.bytes and accounts.bytes > 1_000_000
    assert str(accounts.columns["amount"].type) == "numeric(12,4)"
    assert accounts.columns["amount"].type.modifiers == (12, 4)
    assert facts.relations["public.ledger"].bytes is None  # not touched: not read
    assert facts.references["public.ledger"] == {"public.accounts"}
    # Constraints by name: which table a foreign key references, and which are not one.
    assert facts.constraint_targets == {
        ("public.ledger", "ledger_account_id_fkey"): "public.accounts"
    }
    assert facts.other_constraints == {
        ("public.accounts", "accounts_pkey"),
        ("public.ledger", "ledger_pkey"),
        ("public.ledger", "ledger_id_positive"),
    }
    # And which are not valid yet (added NOT VALID).
    assert facts.not_valid_constraints == {("public.ledger", "ledger_id_positive")}
    # And each foreign key's columns, on both sides.
    assert facts.foreign_key_columns == {
        ("public.ledger", "ledger_account_id_fkey"): (("account_id",), ("id",))
    }


def test_it_reads_the_partitions_of_each_partitioned_table(target):
    with psycopg.connect(target, autocommit=True) as conn:
        facts = target_facts.read_catalog(conn, source="staging")
    assert facts.partition_of == {
        "public.events_2024": "public.events",
        "public.events_2024_01": "public.events_2024",  # a sub-partition
        "public.events_default": "public.events",
    }
    assert facts.default_partitions == {"public.events": "public.events_default"}
    # Their keys and bounds, which decide what a WHERE prunes.
    key = PartitionKey("r", ("at",), ("date",), (None,))
    assert facts.partition_keys == {"public.events": key, "public.events_2024": key}
    assert facts.partition_bounds == {
        "public.events_2024": PartitionBound(
            lower=(("string", "2024-01-01"),), upper=(("string", "2025-01-01"),)
        ),
        "public.events_2024_01": PartitionBound(
            lower=(("string", "2024-01-01"),), upper=(("string", "2024-02-01"),)
        ),
        "public.events_default": PartitionBound(default=True),
    }


def test_it_reads_the_inherits_children_of_each_ordinary_table(target):
    with psycopg.connect(target, autocommit=True) as conn:
        facts = target_facts.read_catalog(conn, source="staging")
    assert facts.inherits_from == {
        "public.base_kid": {"public.base"},
        "public.both_kid": {"public.base", "public.other_base"},  # from two tables
    }
    assert "public.base_kid" not in facts.partition_of


def test_it_reads_what_each_view_reads_and_which_columns(target):
    with psycopg.connect(target, autocommit=True) as conn:
        facts = target_facts.read_catalog(conn, source="staging")
    assert facts.view_reads == {
        "public.account_names": {"public.accounts": {"id", "name"}},
        "public.ledger_total": {
            "public.ledger": {"account_id"},
            "public.account_names": {"id"},
        },
    }


def test_it_counts_exactly_what_each_statement_destroys(target):
    text = """
    drop table public.ledger;
    truncate public.accounts cascade;
    alter table accounts drop column note;
    alter table accounts alter column name type varchar(10);
    alter table accounts alter column balance type integer;
    alter table accounts alter column amount type numeric(12, 0);
    alter table accounts alter column at type date;
    delete from accounts where balance > 39000 and note is not null;
    delete from accounts a using ledger l where l.account_id = a.id and l.id <= 10;
    delete from accounts;
    """
    requests, counts = assess(target, text)
    found = [
        (r.loss.kind, r.loss.column, c.count, c.method)
        for r, c in zip(requests, counts, strict=True)
    ]
    assert found == [
        ("table_rows", None, 1_000, "exact"),
        ("table_rows", None, ROWS, "exact"),
        ("column_values", "note", ROWS * 3 // 4, "exact"),
        ("type_change", "name", ROWS // 5, "exact"),  # 'xxx...' (30 characters)
        ("type_change", "balance", ROWS // 1000, "exact"),  # 5,000,000,000 > 2^31
        ("type_change", "amount", ROWS // 2, "exact"),  # the .5 rounded away
        ("type_change", "at", ROWS // 3, "exact"),  # the 05:00 dropped
        ("delete_rows", None, 750, "exact"),  # 39001..40000 without the null notes
        ("delete_rows", None, 10, "exact"),
        ("delete_rows", None, ROWS, "exact"),
    ]


MERGES = [
    # The first WHEN MATCHED whose condition is true runs: ids 1..5 are updated, 6..20
    # deleted.
    "merge into accounts a using ledger l on l.account_id = a.id "
    "when matched and l.id <= 5 then update set note = null "
    "when matched and l.id <= 20 then delete when not matched then do nothing",
    "merge into accounts a using ledger l on l.account_id = a.id and a.note is null "
    "when matched then delete",
    "merge into public.accounts using public.ledger on ledger.account_id = accounts.id "
    "when matched and accounts.balance % 3 = 0 then delete",
]


def test_it_counts_the_rows_a_merge_deletes_as_the_merge_deletes_them(target):
    for text in MERGES:
        requests, counts = assess(target, text + ";")
        with psycopg.connect(target) as conn:  # run, then rolled back
            conn.execute("set local session_replication_role = replica")  # the ledger's key
            conn.execute(text)
            (left,) = conn.execute("select count(*) from accounts").fetchone()
            conn.rollback()
        assert [
            (r.loss.kind, c.count, c.method) for r, c in zip(requests, counts, strict=True)
        ] == [("delete_rows", ROWS - left, "exact")], text
    # A DELETE no row reaches (an unconditional WHEN MATCHED comes first) loses nothing.
    requests, _ = assess(
        target,
        "merge into accounts a using ledger l on l.account_id = a.id "
        "when matched then update set note = null when matched then delete;",
    )
    assert requests == []


def test_a_widening_type_change_destroys_nothing_so_it_is_no_loss(target):
    """int to bigint, text to varchar: nothing to count, and nothing for the ledger to list
    under "destroys" (it said "not counted" there beside "every value fits")."""
    requests, _ = assess(
        target,
        """
        alter table accounts alter column balance type numeric;
        alter table accounts alter column name type varchar;
        alter table accounts alter column at type timestamptz;
        alter table accounts alter column id type bigint using id * 0;
        alter table accounts alter column note type xml;
        """,
    )
    found = [(r.loss.column, str(r.loss.new_type)) for r in requests]
    # A USING expression decides what survives, and a change the portal cannot check
    # stays a loss, "not counted" with why.
    assert found == [("id", "int8"), ("note", "xml")]


def test_it_samples_very_large_tables_and_says_so(target):
    _, counts = assess(
        target,
        "alter table accounts drop column note;\ndrop table accounts cascade;",
        exact_max_rows=1_000,
        sample_rows=8_000,
    )
    for counted, truth in zip(counts, (ROWS * 3 // 4, ROWS), strict=True):
        assert counted.method == "sampled"
        assert counted.sample_percent == pytest.approx(20.0)
        assert "over exact_max_rows=1,000: counted on a 20% sample" in counted.note
        assert abs(counted.count - truth) / truth < 0.3, (counted.count, truth)


def test_it_gives_the_planners_estimate_when_even_the_sample_runs_out_of_time(target):
    _, (counted,) = assess(target, "drop table accounts cascade;", count_timeout="1ms")
    assert counted.method in ("estimate", "exact")  # a very fast machine may finish in 1 ms
    if counted.method == "estimate":
        assert counted.count == ROWS and "the planner's estimate (reltuples)" in counted.note


def test_it_gives_up_on_a_table_someone_else_has_locked_instead_of_queueing(target):
    with psycopg.connect(target) as holder:
        holder.execute("lock table public.ledger in access exclusive mode")
        _, (counted,) = assess(target, "drop table ledger;", lock_timeout="100ms")
        holder.rollback()
    assert counted.method == "estimate" and counted.count == 1_000
    assert "the exact count gave up (statement or lock timeout)" in counted.note


def test_it_never_writes(target):
    with (
        psycopg.connect(target, autocommit=True) as conn,
        pytest.raises(psycopg.errors.ReadOnlySqlTransaction),
        target_facts.read_only(conn),
    ):
        conn.execute("delete from public.ledger")
    with psycopg.connect(target) as conn:
        assert conn.execute("select count(*) from public.ledger").fetchone() == (1_000,)
        settings = conn.execute("show lock_timeout").fetchone()
    assert settings == ("0",)  # the timeouts were local to the read's transaction
