"""statement_effects reads what a statement does from its parse tree; release_risk settles it.

No database here: the target is described by hand (``TargetFacts``, effects_world.py), as
read_catalog would return it. Partitions, INHERITS children, views and foreign keys at
the other end of a change: test_statement_effects_related.py.
"""

from __future__ import annotations

import pytest

from migrations_ops.pg import hazards, release_risk
from migrations_ops.pg.apply import MigrationFile
from migrations_ops.pg.locks import LockMode
from migrations_ops.pg.sql_names import TypeSpec
from migrations_ops.pg.sqlsplit import split_statements
from migrations_ops.pg.statement_effects import analyse
from tests.migrations_ops.pg.effects_world import codes, facts, settle


def test_it_gives_the_line_where_the_statement_starts_not_its_leading_comment():
    text = (
        "-- adds a column\n\n/* and more */\nalter table accounts\n  add column x int;\n\nselect 1;"
    )
    first, second = (analyse(s) for s in split_statements(text))
    assert (first.line, second.line) == (4, 7)
    assert first.text.startswith("alter table accounts")


def test_it_reports_a_statement_it_cannot_parse_and_goes_on():
    text = "select 1;\ncreate tabel x (id int);\ndrop table accounts;"
    settled = settle(text)
    assert settled[1].effect.parse_error == 'syntax error at or near "tabel" (line 2)'
    assert settled[1].effect.command == "unreadable"
    assert settled[2].lock == LockMode.ACCESS_EXCLUSIVE


def test_it_reads_comment_only_statements_as_nothing():
    (effect,) = [analyse(s) for s in split_statements("-- nothing here\n")]
    assert effect.command == "comment" and effect.locks == []


# One example per hazard of the list, on a table the target has (50,000 rows).
HAZARDS = {
    "create_index_not_concurrently": "create index accounts_note on accounts (note)",
    "add_constraint_builds_index": "alter table accounts add constraint u unique (name)",
    "drop_index_not_concurrently": "drop index accounts_name",
    "reindex_not_concurrently": "reindex table accounts",
    "alter_column_type_rewrites": "alter table accounts alter column balance type numeric",
    "add_column_rewrites": "alter table accounts add column at timestamptz "
    "default clock_timestamp()",
    "add_column_not_null_without_default": "alter table accounts add column code text not null",
    "add_constraint_without_not_valid": "alter table accounts add constraint c check (balance > 0)",
    "set_not_null_scans": "alter table accounts alter column note set not null",
    "rename_breaks_clients": "alter table accounts rename column note to notes",
    "drop_breaks_clients": "alter table accounts drop column note",
    "truncate": "truncate accounts",
    "delete_without_where": "delete from accounts",
    "update_without_where": "update accounts set note = ''",
    "vacuum_full": "vacuum full accounts",
    "cluster": "cluster accounts using accounts_name",
    "refresh_materialized_view_not_concurrently": "refresh materialized view totals",
    "lock_table": "lock table accounts",
}


def test_every_hazard_has_an_example():
    assert set(HAZARDS) == set(hazards.KINDS) - {"lock_held_by_later_statements"}


@pytest.mark.parametrize("code", sorted(HAZARDS))
def test_it_names_each_hazard_with_its_safer_form(code):
    (statement,) = settle(HAZARDS[code] + ";")
    assert code in codes(statement)
    found = next(h for h in statement.hazards if h.code == code).as_dict()
    assert (
        found["table"] == "public.accounts" or code == "refresh_materialized_view_not_concurrently"
    )
    assert found["safer"] and found["message"].startswith(hazards.KINDS[code].title)


def test_the_index_hazard_says_own_file_or_standalone_mode():
    (statement,) = settle("create unique index i on accounts (name);")
    safer = statement.hazards[0].as_dict()["safer"]
    assert "in a migration file of its own, or with the project's standalone mode" in safer
    assert "the CLI runs each file in one transaction" in safer


def test_the_safe_forms_are_not_hazards():
    safe = """
    create index concurrently accounts_note on accounts (note);
    alter table accounts add constraint c check (balance > 0) not valid;
    alter table accounts validate constraint c;
    alter table accounts add column at timestamptz default now();
    alter table accounts add column flag boolean not null default false;
    alter table accounts alter column name type varchar(100);
    alter table accounts alter column name type text;
    alter table accounts alter column checked set not null;
    refresh materialized view concurrently totals;
    delete from accounts where balance < 0;
    update accounts set note = '' where id = '00000000-0000-0000-0000-000000000000';
    """
    # One file each: in one file, the first ones' locks would be held while the next ran.
    lines = [line.strip() for line in safe.strip().splitlines()]
    files = [
        MigrationFile.from_text(f"2024010100{n:04d}_x.sql", line) for n, line in enumerate(lines)
    ]
    settled = release_risk.Resolver(facts()).resolve(release_risk.analyse_files(files))
    assert [codes(s) for s in settled] == [[]] * len(lines), [
        (s.effect.text[:40], codes(s)) for s in settled if codes(s)
    ]


def test_hazards_on_tables_the_release_creates_do_not_count():
    settled = settle(
        "create table fresh (id int, note text);\n"
        "create index fresh_note on fresh (note);\n"
        "alter table fresh alter column id set not null;\n"
    )
    assert [codes(s) for s in settled] == [[], [], []]
    assert settled[1].lock is None  # fresh did not exist before the file


def test_a_table_created_by_an_earlier_file_existed_before_the_next_one():
    files = release_risk.analyse_files(
        [
            MigrationFile.from_text("20240101000000_a.sql", "create table fresh (id int);"),
            MigrationFile.from_text("20240102000000_b.sql", "create index i on fresh (id);"),
        ]
    )
    _, second = release_risk.Resolver(facts()).resolve(files)
    assert second.locks == {"public.fresh": LockMode.SHARE}
    assert second.hazards == []  # but it is not on the target: no clients, no rows


def test_it_follows_renames_and_the_files_search_path():
    settled = settle(
        "set search_path = app, public;\n"
        "alter table accounts rename to customers;\n"
        "create index on customers (note);\n"
    )
    assert settled[2].tables == ["public.customers"]
    assert codes(settled[2]) == ["create_index_not_concurrently"]  # the target's accounts


def test_a_strong_lock_kept_while_a_later_statement_reads_the_table_is_a_hazard():
    settled = settle(
        "alter table accounts add column phone text;\n"
        "create unique index accounts_phone on accounts (phone);\n"
    )
    assert "lock_held_by_later_statements" in codes(settled[0])
    detail = settled[0].hazards[0].detail
    assert "ACCESS EXCLUSIVE on public.accounts is still held while line 2" in detail


def test_drop_table_also_locks_the_tables_its_foreign_keys_point_at():
    (statement,) = settle("drop table ledger;")
    assert statement.locks == {
        "public.ledger": LockMode.ACCESS_EXCLUSIVE,
        "public.accounts": LockMode.ACCESS_EXCLUSIVE,
    }


def test_validating_a_foreign_key_the_target_has_also_locks_the_table_it_references():
    (statement,) = settle("alter table ledger validate constraint ledger_account_fkey;")
    assert statement.locks == {
        "public.ledger": LockMode.SHARE_UPDATE_EXCLUSIVE,
        "public.accounts": LockMode.ROW_SHARE,
    }
    assert statement.lock_why == {"public.accounts": "the table ledger_account_fkey references"}
    assert statement.lock_notes == []


def test_a_foreign_key_added_by_an_earlier_file_is_known_to_later_ones():
    files = release_risk.analyse_files(
        [
            MigrationFile.from_text(
                "20240101000000_a.sql",
                "alter table accounts add constraint accounts_ledger_fk foreign key (balance) "
                "references ledger (id) not valid;\n"
                "alter table ledger add foreign key (id) references accounts (id) not valid;\n"
                "alter table ledger rename to entries;\n",
            ),
            MigrationFile.from_text(
                "20240102000000_b.sql",
                "alter table accounts validate constraint accounts_ledger_fk;\n"
                "alter table entries validate constraint ledger_id_fkey;\n"
                "alter table accounts rename constraint accounts_ledger_fk to accounts_fk;\n"
                "alter table accounts drop constraint accounts_fk;\n",
            ),
        ]
    )
    *_, validate, unnamed, _, drop = release_risk.Resolver(facts()).resolve(files)
    # The table it references was renamed since: the lock is on it under its new name.
    assert validate.locks == {
        "public.accounts": LockMode.SHARE_UPDATE_EXCLUSIVE,
        "public.entries": LockMode.ROW_SHARE,
    }
    assert validate.lock_why == {"public.entries": "the table accounts_ledger_fk references"}
    assert unnamed.locks["public.accounts"] == LockMode.ROW_SHARE  # PostgreSQL's own name
    assert drop.locks["public.entries"] == LockMode.ACCESS_EXCLUSIVE  # the renamed constraint
    assert drop.lock_notes == []


def test_a_constraint_nobody_knows_is_said_to_lock_more_if_it_is_a_foreign_key():
    settled = settle(
        "alter table accounts validate constraint accounts_fk;\n"
        "alter table accounts validate constraint accounts_pkey;\n"  # known: not a foreign key
        "alter table accounts drop constraint accounts_fk;\n"
    )
    assert settled[0].locks == {"public.accounts": LockMode.SHARE_UPDATE_EXCLUSIVE}
    assert settled[0].lock_notes == [
        "if accounts_fk is a foreign key, ALTER TABLE also takes ROW SHARE on the table it "
        "references: neither staging nor the release's earlier statements have a constraint "
        "accounts_fk on public.accounts"
    ]
    assert settled[1].lock_notes == []
    assert "ACCESS EXCLUSIVE on the table it references" in settled[2].lock_notes[0]


def test_drop_table_locks_the_tables_a_foreign_key_added_by_the_release_points_at():
    (_, drop) = settle(
        "alter table accounts add constraint accounts_ledger_fk foreign key (balance) "
        "references ledger (id) not valid;\n"
        "drop table accounts;\n"
    )
    assert drop.locks["public.ledger"] == LockMode.ACCESS_EXCLUSIVE
    assert drop.lock_why == {"public.ledger": "a foreign key of public.accounts references it"}


def test_it_counts_only_what_it_can_count_without_running_bundle_code():
    settled = settle(
        "delete from accounts where balance < 0 and lower(note) = 'x';\n"
        "delete from accounts where app.is_stale(id);\n"
        "delete from accounts where id in (select id from ledger for update);\n"
    )
    assert [s.counts[0].loss.not_counted for s in settled] == [
        None,
        "its WHERE is not counted on the target because it calls app.is_stale(): bundle code "
        "never runs there",
        "its WHERE is not counted on the target because it has a WITH or FOR UPDATE clause: "
        "bundle code never runs there",
    ]


def test_type_changes_know_the_old_type_and_what_does_not_rewrite():
    settled = settle(
        "alter table accounts alter column name type varchar(20);\n"
        "alter table accounts alter column name type varchar(200);\n"
        "alter table accounts alter column balance type integer;\n"
    )
    assert [bool(s.rewrites) for s in settled] == [True, False, True]
    assert settled[0].counts[0].old_type == TypeSpec("varchar", (50,))


def test_do_blocks_and_function_calls_are_said_to_be_opaque():
    settled = settle("do $$ begin perform 1; end $$;\nselect app.backfill();\n")
    assert all(s.effect.opaque for s in settled)
    assert settled[1].effect.does == ["runs a query that calls app.backfill"]
