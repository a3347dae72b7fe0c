"""statement_effects and release_risk on what a statement reaches beyond its own table:
partitions, INHERITS children, views built on it, and the table at the other end of a
foreign key. No database here, as in test_statement_effects.py.
"""

from __future__ import annotations

from migrations_ops.pg import release_risk
from migrations_ops.pg.apply import MigrationFile
from migrations_ops.pg.locks import LockMode
from migrations_ops.pg.partition_pruning import PartitionBound, PartitionKey
from migrations_ops.pg.target_facts import RelationFacts, TargetFacts
from tests.migrations_ops.pg.effects_world import facts, settle


def partitioned() -> TargetFacts:
    """facts(), with public.events partitioned: events_2024 (itself partitioned by month:
    events_2024_01) and events_default."""
    target = facts()
    for name in ("events", "events_2024", "events_2024_01", "events_default"):
        target.relations[f"public.{name}"] = RelationFacts(f"public.{name}", "table", 10)
    target.partition_of = {
        "public.events_2024": "public.events",
        "public.events_2024_01": "public.events_2024",
        "public.events_default": "public.events",
    }
    target.default_partitions = {"public.events": "public.events_default"}
    return target


def test_statements_that_recurse_lock_every_partition_and_say_why():
    truncate, add, only, index, attach = settle(
        "truncate events;\n"
        "alter table events add column z int;\n"
        "alter table only events alter column z set default 1;\n"
        "create index on events (z);\n"
        "alter table events enable row level security;\n",
        partitioned(),
    )
    everything = {"public.events", "public.events_2024", "public.events_2024_01"}
    everything.add("public.events_default")
    assert truncate.locks == dict.fromkeys(everything, LockMode.ACCESS_EXCLUSIVE)
    assert truncate.lock_why == {
        "public.events_2024": "a partition of public.events",
        "public.events_2024_01": "a partition of public.events_2024, within public.events",
        "public.events_default": "a partition of public.events",
    }
    assert add.locks == truncate.locks
    assert only.locks == {"public.events": LockMode.ACCESS_EXCLUSIVE}
    assert index.locks == dict.fromkeys(everything, LockMode.SHARE)
    assert attach.locks == {"public.events": LockMode.ACCESS_EXCLUSIVE}  # never recurses


def test_partitions_the_release_creates_attaches_and_detaches_count():
    *_, truncate, drop = settle(
        "create table events_2025 partition of events for values from ('2025-01-01') "
        "to ('2026-01-01');\n"
        "alter table events detach partition events_2024;\n"
        "truncate events;\n"
        "drop table events_2024_01;\n",
        partitioned(),
    )
    # events_2025 is new in this file (no lock before it existed); events_2024 left.
    assert set(truncate.locks) == {"public.events", "public.events_default"}
    # Dropping a partition locks its partitioned table (and that one's default partition).
    assert drop.locks == {
        "public.events_2024_01": LockMode.ACCESS_EXCLUSIVE,
        "public.events_2024": LockMode.ACCESS_EXCLUSIVE,
    }
    assert drop.lock_why == {
        "public.events_2024": "the partitioned table public.events_2024_01 belongs to"
    }


def inherited() -> TargetFacts:
    """facts(), with public.base, public.base_kid (INHERITS base) and public.base_grandkid
    (INHERITS base_kid): plain inheritance, no partitions."""
    target = facts()
    for name in ("base", "base_kid", "base_grandkid"):
        target.relations[f"public.{name}"] = RelationFacts(f"public.{name}", "table", 10)
    target.inherits_from = {
        "public.base_kid": {"public.base"},
        "public.base_grandkid": {"public.base_kid"},
    }
    return target


def test_statements_that_recurse_lock_every_inherits_child_and_say_why():
    truncate, add, unique, index, only, drop_child = settle(
        "truncate base;\n"
        "alter table base add column z int;\n"
        "alter table base add constraint base_z_key unique (z);\n"
        "create index on base (z);\n"
        "truncate only base;\n"
        "drop table base_grandkid;\n",
        inherited(),
    )
    tree = dict.fromkeys(
        ("public.base", "public.base_kid", "public.base_grandkid"), LockMode.ACCESS_EXCLUSIVE
    )
    assert truncate.locks == tree
    assert truncate.lock_why == {
        "public.base_kid": "inherits from public.base",
        "public.base_grandkid": "inherits from public.base_kid, within public.base",
    }
    assert add.locks == tree
    # An index (or a foreign key, a trigger) belongs to the table alone unless partitioned.
    assert unique.locks == {"public.base": LockMode.ACCESS_EXCLUSIVE}
    assert index.locks == {"public.base": LockMode.SHARE}
    assert only.locks == {"public.base": LockMode.ACCESS_EXCLUSIVE}
    # Dropping a child leaves its parent alone (a partition's parent is locked).
    assert drop_child.locks == {"public.base_grandkid": LockMode.ACCESS_EXCLUSIVE}


def test_inherits_children_the_release_adds_and_removes_count():
    *_, truncate = settle(
        "create table base_new (n int) inherits (base_kid);\n"
        "alter table base_kid no inherit base;\n"
        "alter table ledger inherit base;\n"
        "truncate base;\n",
        inherited(),
    )
    # base_kid (and base_grandkid under it) left; base_new is new in this file; ledger joined.
    assert truncate.locks == {
        "public.base": LockMode.ACCESS_EXCLUSIVE,
        "public.ledger": LockMode.ACCESS_EXCLUSIVE,
    }


def with_views() -> TargetFacts:
    """facts(), with public.account_names (a view of accounts' id and name), public.totals
    (a materialized view built on it and on ledger) and public.ledger_count (count(*))."""
    target = facts()
    for name, kind in (("account_names", "view"), ("ledger_count", "view")):
        target.relations[f"public.{name}"] = RelationFacts(f"public.{name}", kind, None)
    target.view_reads = {
        "public.account_names": {"public.accounts": {"id", "name"}},
        "public.totals": {"public.account_names": {"id"}, "public.ledger": {"id"}},
        "public.ledger_count": {"public.ledger": set()},
    }
    return target


def test_drop_cascade_locks_the_views_built_on_what_it_drops_and_says_why():
    (column,) = settle("alter table ledger drop column id cascade;", with_views())
    (other_column,) = settle("alter table ledger drop column account_id cascade;", with_views())
    drop, view = settle(
        "drop table accounts cascade;\ndrop view account_names cascade;\n", with_views()
    )
    assert drop.locks["public.account_names"] == LockMode.ACCESS_EXCLUSIVE
    assert drop.lock_why["public.account_names"] == (
        "a view that depends on public.accounts: dropped too"
    )
    assert drop.lock_why["public.totals"] == (
        "a materialized view built on public.account_names, which depends on "
        "public.accounts: dropped too"
    )
    # Only the views that use the column (count(*) uses none).
    assert set(column.locks) == {"public.ledger", "public.totals"}
    assert column.lock_why == {
        "public.totals": "a materialized view that depends on public.ledger (column id): "
        "dropped too"
    }
    assert other_column.locks == {"public.ledger": LockMode.ACCESS_EXCLUSIVE}
    # totals went with accounts in the first statement: nothing more to drop.
    assert view.locks == {"public.account_names": LockMode.ACCESS_EXCLUSIVE}


def test_refresh_reads_what_the_view_reads_through_plain_views():
    (refresh,) = settle("refresh materialized view concurrently totals;", with_views())
    assert refresh.locks == {
        "public.totals": LockMode.EXCLUSIVE,
        "public.account_names": LockMode.ACCESS_SHARE,
        "public.accounts": LockMode.ACCESS_SHARE,
        "public.ledger": LockMode.ACCESS_SHARE,
    }
    assert refresh.lock_why == {
        "public.account_names": "public.totals reads it",
        "public.accounts": "read through the view public.account_names, which public.totals reads",
        "public.ledger": "public.totals reads it",
    }


def test_views_the_release_creates_count_and_unknown_columns_are_a_may():
    files = release_risk.analyse_files(
        [
            MigrationFile.from_text(
                "20240101000000_a.sql",
                "create view notes as select note from accounts;\n"
                "create materialized view note_totals as select count(*) from notes;\n",
            ),
            MigrationFile.from_text(
                "20240102000000_b.sql",
                "refresh materialized view note_totals;\n"
                "alter table accounts drop column note cascade;\n"
                "drop table accounts cascade;\n",
            ),
        ]
    )
    *_, refresh, column, drop = release_risk.Resolver(facts()).resolve(files)
    assert refresh.locks == {
        "public.note_totals": LockMode.ACCESS_EXCLUSIVE,
        "public.notes": LockMode.ACCESS_SHARE,
        "public.accounts": LockMode.ACCESS_SHARE,
    }
    assert column.locks == {"public.accounts": LockMode.ACCESS_EXCLUSIVE}
    assert column.lock_notes == [
        "ALTER TABLE may also drop public.notes and take ACCESS EXCLUSIVE on it: a view the "
        "release creates on public.accounts, which may use column note"
    ]
    assert drop.locks["public.notes"] == LockMode.ACCESS_EXCLUSIVE
    assert drop.locks["public.note_totals"] == LockMode.ACCESS_EXCLUSIVE


def test_a_type_change_of_a_foreign_key_column_locks_the_table_at_its_other_end():
    target = facts()
    target.foreign_key_columns = {("public.ledger", "ledger_account_fkey"): (("balance",), ("id",))}
    referenced, referencing, other = settle(
        "alter table accounts alter column id type text;\n"
        "alter table ledger alter column balance type numeric;\n"
        "alter table ledger alter column id type bigint;\n",
        target,
    )
    assert referenced.locks["public.ledger"] == LockMode.ACCESS_EXCLUSIVE
    assert referenced.lock_why == {
        "public.ledger": "at the other end of foreign key ledger_account_fkey, rebuilt for the "
        "new type of public.accounts.id"
    }
    assert referencing.locks["public.accounts"] == LockMode.ACCESS_EXCLUSIVE
    assert other.locks == {"public.ledger": LockMode.ACCESS_EXCLUSIVE}  # in no foreign key


def test_a_foreign_key_the_release_adds_is_rebuilt_by_a_later_type_change():
    _, change = settle(
        "alter table ledger add constraint ledger_note_fk foreign key (id) "
        "references accounts (note) not valid;\n"
        "alter table accounts rename to clients;\n"
        "alter table clients alter column note type varchar(10);\n",
        facts(),
    )[1:]
    # Through the rename (public.clients is a name from within the file: not counted).
    assert change.locks == {"public.ledger": LockMode.ACCESS_EXCLUSIVE}


def test_dropping_a_foreign_key_column_locks_the_table_at_its_other_end_and_forgets_the_key():
    target = facts()
    target.foreign_key_columns = {("public.ledger", "ledger_account_fkey"): (("balance",), ("id",))}
    referencing, drop_key, referenced, other = settle(
        "alter table ledger drop column balance;\n"
        "alter table ledger drop constraint ledger_account_fkey;\n"
        "alter table accounts drop column id cascade;\n"
        "alter table ledger drop column id;\n",
        target,
    )
    assert referencing.locks == {
        "public.ledger": LockMode.ACCESS_EXCLUSIVE,
        "public.accounts": LockMode.ACCESS_EXCLUSIVE,
    }
    assert referencing.lock_why == {
        "public.accounts": "at the other end of foreign key ledger_account_fkey, dropped with "
        "column public.ledger.balance"
    }
    # The key went with the column: a later statement naming it meets an unknown constraint.
    assert drop_key.locks == {"public.ledger": LockMode.ACCESS_EXCLUSIVE}
    assert referenced.locks == {"public.accounts": LockMode.ACCESS_EXCLUSIVE}
    assert other.locks == {"public.ledger": LockMode.ACCESS_EXCLUSIVE}  # in no foreign key


def test_the_referenced_column_of_a_foreign_key_dropped_with_cascade_locks_the_other_table():
    target = facts()
    target.foreign_key_columns = {("public.ledger", "ledger_account_fkey"): (("balance",), ("id",))}
    (drop,) = settle("alter table accounts drop column id cascade;\n", target)
    assert drop.locks["public.ledger"] == LockMode.ACCESS_EXCLUSIVE
    assert drop.lock_why["public.ledger"] == (
        "at the other end of foreign key ledger_account_fkey, dropped with column "
        "public.accounts.id"
    )


def test_dml_locks_every_partition_it_may_touch_and_says_what_a_row_or_a_where_decides():
    select, update, where, insert, only = settle(
        "select count(*) from events;\n"
        "update events set id = 1;\n"
        "delete from events where at < '2024-01-01';\n"
        "insert into events values (1, '2024-01-05');\n"
        "select * from only events;\n",
        partitioned(),
    )
    tree = {"public.events", "public.events_2024", "public.events_2024_01"}
    tree.add("public.events_default")
    assert select.locks == dict.fromkeys(tree, LockMode.ACCESS_SHARE)
    assert select.lock_why["public.events_2024_01"] == (
        "a partition of public.events_2024, within public.events"
    )
    assert update.locks == dict.fromkeys(tree, LockMode.ROW_EXCLUSIVE)
    assert (select.lock_notes, update.lock_notes) == ([], [])
    # Pruning is not predicted: the WHERE may leave fewer partitions, so it is said in words.
    assert where.locks == {"public.events": LockMode.ROW_EXCLUSIVE}
    assert where.lock_notes == [
        "DELETE also takes ROW EXCLUSIVE on at most every partition of public.events "
        "(public.events_2024, public.events_2024_01, public.events_default); fewer if the "
        "WHERE prunes, which is not told here: the partition key or a partition's bounds "
        "are not known here"
    ]
    assert insert.locks == {"public.events": LockMode.ROW_EXCLUSIVE}
    assert insert.lock_notes == [
        "INSERT also takes ROW EXCLUSIVE on one partition of public.events, chosen by the row: "
        "each row locks the partition it goes to (of public.events_2024, "
        "public.events_2024_01, public.events_default)"
    ]
    assert only.locks == {"public.events": LockMode.ACCESS_SHARE}


def test_validating_a_valid_constraint_locks_nothing_else_and_reads_no_row():
    target = partitioned()
    target.constraint_targets[("public.events", "events_account_fkey")] = "public.accounts"
    valid, not_valid, added, later = settle(
        "alter table events validate constraint events_account_fkey;\n"
        "alter table ledger validate constraint ledger_account_fkey;\n"
        "alter table events add constraint events_id check (id > 0) not valid;\n"
        "alter table events validate constraint events_id;\n",
        target,
    )
    assert valid.locks == {"public.events": LockMode.SHARE_UPDATE_EXCLUSIVE}
    assert valid.scans == {}
    assert not_valid.locks == {
        "public.ledger": LockMode.SHARE_UPDATE_EXCLUSIVE,
        "public.accounts": LockMode.ROW_SHARE,
    }
    assert not_valid.scans == {
        "public.ledger": "VALIDATE CONSTRAINT ledger_account_fkey reads every row"
    }
    # Added NOT VALID by the release: checked, on every partition too.
    assert set(later.locks) == {
        "public.events",
        "public.events_2024",
        "public.events_2024_01",
        "public.events_default",
    }
    assert added.locks["public.events"] == LockMode.ACCESS_EXCLUSIVE


def test_a_where_on_the_partition_key_locks_the_partitions_its_bounds_keep():
    target = partitioned()
    key = PartitionKey("r", ("at",), ("date",))
    target.partition_keys = {"public.events": key, "public.events_2024": key}
    target.partition_bounds = {
        "public.events_2024": PartitionBound(
            lower=(("string", "2024-01-01"),), upper=(("string", "2025-01-01"),)
        ),
        "public.events_2024_01": PartitionBound(
            lower=(("string", "2024-01-01"),), upper=(("string", "2024-02-01"),)
        ),
        "public.events_default": PartitionBound(default=True),
    }
    one, every, before, function, _, renamed = settle(
        "delete from events where at = '2024-01-05';\n"
        "delete from events where id = 1;\n"
        "delete from events e where e.at < '2024-01-01' and e.id > 2;\n"
        "delete from events where at = now();\n"
        "alter table events rename column at to day;\n"
        "delete from events where day = '2024-01-05';\n",
        target,
    )
    within = {"public.events", "public.events_2024", "public.events_2024_01"}
    assert (one.locks, one.lock_notes) == (dict.fromkeys(within, LockMode.ROW_EXCLUSIVE), [])
    assert one.lock_why["public.events_2024_01"] == (
        "a partition of public.events_2024, within public.events"
    )
    assert every.locks == dict.fromkeys((*within, "public.events_default"), LockMode.ROW_EXCLUSIVE)
    assert every.lock_notes == []
    assert before.locks == dict.fromkeys(
        ("public.events", "public.events_default"), LockMode.ROW_EXCLUSIVE
    )
    # now() is not a constant when the DELETE is planned: it prunes nothing.
    assert function.locks == dict.fromkeys(
        (*within, "public.events_default"), LockMode.ROW_EXCLUSIVE
    )
    assert function.lock_notes == []
    # A renamed key column is still the key.
    assert (renamed.locks, renamed.lock_notes) == (one.locks, [])


def test_dml_on_an_inherits_parent_locks_every_child_whatever_the_where():
    update, insert = settle(
        "update base set id = 1 where id = 2;\ninsert into base values (1);\n", inherited()
    )
    # Constraint exclusion comes after the children are locked (find_all_inheritors).
    assert update.locks == dict.fromkeys(
        ("public.base", "public.base_kid", "public.base_grandkid"), LockMode.ROW_EXCLUSIVE
    )
    assert update.lock_notes == []
    assert update.lock_why["public.base_kid"] == "inherits from public.base"
    # An INHERITS parent keeps the rows inserted into it.
    assert (insert.locks, insert.lock_notes) == ({"public.base": LockMode.ROW_EXCLUSIVE}, [])
