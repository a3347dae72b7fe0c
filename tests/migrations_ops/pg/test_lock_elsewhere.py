"""Every table a statement locks besides the one it names (foreign keys, partitions,
INHERITS children, views, default partitions), predicted after the release's earlier
statements and compared with the locks PostgreSQL takes, table by table (lock_world)."""

from __future__ import annotations

import re

from tests.migrations_ops.pg.lock_world import mismatch, not_exact, predicted_and_taken

# Statements that lock tables besides the one they name, each after the release's earlier
# statements (another file, applied and committed first), compared table by table: the
# prediction reads the catalog from before the release, so it learns the foreign keys the
# earlier file adds from its text, as it does for a real release.
ELSEWHERE = [
    (ADD_FK := "alter table other add constraint other_parent_fk foreign key (id) "
     "references parent (id) not valid", "alter table other validate constraint other_parent_fk"),
    (ADD_FK, "alter table other drop constraint other_parent_fk"),
    ("", "alter table child validate constraint child_n_positive"),  # a CHECK: nothing else
    # VALIDATE of a constraint already valid checks nothing: no ROW SHARE on the table a
    # foreign key references, no recursion to partitions or INHERITS children.
    ("", "alter table child validate constraint child_parent_id_fkey"),
    ("", "alter table orders validate constraint orders_parent_id_fkey"),
    (ADD_FK.removesuffix(" not valid"), "alter table other validate constraint other_parent_fk"),
    ("alter table base validate constraint base_k_positive",
     "alter table base validate constraint base_k_positive"),
    ("alter table base add constraint base_k_small check (k < 1000)",
     "alter table base validate constraint base_k_small"),
    ("alter table base add constraint base_k_small check (k < 1000) not valid",
     "alter table base validate constraint base_k_small"),
    ("alter table child rename constraint child_parent_id_fkey to child_parent_fk",
     "alter table child validate constraint child_parent_fk"),
    (ADD_FK + "; alter table other rename constraint other_parent_fk to other_fk",
     "alter table other validate constraint other_fk"),
    ("", "alter table child drop constraint child_parent_id_fkey"),
    ("", "alter table other add constraint fk foreign key (id) references parent (id)"),
    ("", "alter table other add constraint fk foreign key (id) references parent (id) not valid"),
    ("", "create trigger t2 after insert on child for each row execute function touch()"),
    ("", "drop table child"),
    ("", "truncate parent cascade"),
    ("create table grand (id int references child (id))", "drop table child cascade"),
    ("create table grand (id int references child (id))", "truncate parent cascade"),
    # A partition added or taken: the default partition, and the parent's foreign keys.
    ("", "alter table orders attach partition orders_2024 for values from ('2024-01-01') "
     "to ('2025-01-01')"),
    ("", "alter table orders detach partition orders_2023"),
    ("", "create table orders_2025 partition of orders for values from ('2025-01-01') "
     "to ('2026-01-01')"),
    ("", "alter table events attach partition events_2024 for values from ('2024-01-01') "
     "to ('2025-01-01')"),
    # The default partition as the release leaves it: one it creates or attaches, renamed,
    # detached.
    (EVS := "create table evs (id int, at date) partition by range (at); "
     "create table evs_default partition of evs default; "
     "create table evs_2020 partition of evs for values from ('2020-01-01') to ('2021-01-01')",
     "create table evs_2024 partition of evs for values from ('2024-01-01') to ('2025-01-01')"),
    (EVS, "drop table evs_2020"),
    ("create table events_rest (id bigint, at timestamptz); "
     "alter table events attach partition events_rest default",
     "alter table events attach partition events_2024 for values from ('2024-01-01') "
     "to ('2025-01-01')"),
    ("alter table orders rename to purchases; "
     "alter table orders_default rename to purchases_rest",
     "alter table purchases detach partition orders_2023"),
    ("alter table orders detach partition orders_default",
     "create table orders_2025 partition of orders for values from ('2025-01-01') "
     "to ('2026-01-01')"),
    # A partitioned table attached or detached: its own partitions too (and INHERIT: the
    # new child's children, read for a loop).
    ("create table orders_2024p (id int, parent_id int, at date) partition by list (id); "
     "create table orders_2024p_1 partition of orders_2024p for values in (1)",
     "alter table orders attach partition orders_2024p for values from ('2024-01-01') "
     "to ('2025-01-01')"),
    ("", "alter table shipments detach partition shipments_2023"),
    # A partitioned table: statements that recurse lock every partition, ONLY does not;
    # partitions the release created, attached (sub-partitions too) or detached count.
    ("", "truncate orders"),
    ("", "drop table orders"),
    ("", "alter table orders add column z int"),
    ("", "alter table orders add constraint orders_positive check (id > 0)"),
    ("", "alter table orders add constraint orders_key unique (id, at)"),
    ("", "alter table orders alter column id set not null, enable row level security"),
    ("", "alter table only orders alter column id set default 1"),
    ("", "alter table orders rename column id to ident"),
    ("", "create index on orders (id)"),
    ("", "create index on only orders (id)"),
    ("", "create trigger t2 after insert on orders for each row execute function touch()"),
    ("", "lock table orders in share mode"),
    ("", "analyze orders"),
    (PARTITIONS := "create table orders_2025 partition of orders for values from ('2025-01-01') "
     "to ('2026-01-01') partition by list (id); "
     "create table orders_2025_1 partition of orders_2025 for values in (1); "
     "alter table orders attach partition orders_2024 for values from ('2024-01-01') "
     "to ('2025-01-01'); alter table orders detach partition orders_2023",
     "alter table orders add column z int"),
    (PARTITIONS, "drop table orders_2025"),
    # Plain INHERITS children (and theirs) get the recursive locks too, for what recurses
    # to them: not indexes, foreign keys, triggers or a NO INHERIT check.
    ("", "truncate base"),
    ("", "truncate only base"),
    ("", "lock table base in share mode"),
    ("", "analyze base"),
    ("", "alter table base add column z int"),
    ("", "alter table base alter column k type bigint"),
    ("", "alter table base alter column k set statistics 100"),
    ("", "alter table base add constraint c check (k < 100)"),
    ("", "alter table base add constraint c check (k < 100) no inherit"),
    ("", "alter table base add constraint base_k_key unique (k)"),
    ("", "alter table base add constraint fk foreign key (k) references other (id)"),
    ("", "alter table base validate constraint base_k_positive"),
    ("", "alter table base drop constraint base_k_positive"),
    # DROP and VALIDATE CONSTRAINT reach the children's copies of an inherited CHECK only
    # (DROP on ONLY: the children's, which become their own); a key, a unique constraint,
    # a foreign key or a NO INHERIT check stays on the table. On a partitioned table, DROP
    # reaches every partition, with ONLY too (each holds a copy of the key).
    ("", "alter table only base drop constraint base_k_positive"),
    ("", "alter table base drop constraint base_pkey"),
    ("alter table base add constraint base_k_key unique (k)",
     "alter table base drop constraint base_k_key"),
    ("alter table base add constraint base_k_key unique (k)",
     "alter table only base drop constraint base_k_key"),
    ("alter table base add constraint c check (k < 100) no inherit",
     "alter table base drop constraint c"),
    ("alter table base add constraint c check (k < 100) no inherit not valid",
     "alter table base validate constraint c"),
    ("alter table base add constraint c check (k < 100) not valid",
     "alter table only base drop constraint c"),
    ("alter table base add constraint bfk foreign key (k) references other (id) not valid",
     "alter table base validate constraint bfk"),
    ("alter table base add constraint bfk foreign key (k) references other (id)",
     "alter table base drop constraint bfk"),
    ("alter table base rename constraint base_k_positive to base_k_pos",
     "alter table only base drop constraint base_k_pos"),
    ("", "alter table orders drop constraint orders_parent_id_fkey"),
    ("", "alter table only orders drop constraint orders_parent_id_fkey"),
    ("alter table orders add constraint orders_key unique (id, at)",
     "alter table only orders drop constraint orders_key"),
    ("alter table orders add constraint orders_positive check (id > 0)",
     "alter table orders drop constraint orders_positive"),
    ("", "alter table base rename column k to kk"),
    ("", "create index on base (k)"),
    ("", "create trigger t2 after insert on base for each row execute function touch()"),
    ("", "drop table base cascade"),
    ("", "drop table base_grandkid"),
    ("", "alter table base_kid no inherit base"),
    ("alter table base_kid no inherit base", "alter table base_kid inherit base"),
    ("create table base_new (n int) inherits (base_kid)", "alter table base add column z int"),
    ("alter table base_kid no inherit base", "truncate base"),
    # DML without ONLY: every partition the planner keeps (all, without a WHERE), every
    # INHERITS child (a WHERE prunes none); an INSERT into an INHERITS parent stays there.
    ("", "select count(*) from orders"),
    ("", "select * from only orders"),
    ("", "select * from orders for update"),
    ("", "update orders set id = 2"),
    ("", "delete from orders"),
    ("", "insert into parent (id) select parent_id from orders"),
    ("", "create table t6 as select * from orders"),
    ("", "select * from base where k = 1"),
    ("", "update base set k = 1 where id = 1"),
    ("", "delete from only base"),
    ("", "insert into base values (1, 1)"),
    (PARTITIONS, "delete from orders"),
    # A WHERE on a partitioned table: plan-time pruning keeps the partitions whose bounds
    # can match a key compared with constants (and the default partition when some values
    # are in no other bound; for a LIST key compared with < or >, always); a WHERE that
    # does not name the key keeps them all.
    ("", "update orders set id = 2 where id = 1"),
    ("", "update orders set id = 2 where at = '2023-05-01'"),
    ("", "update orders set id = 2 where at = '2029-05-01'"),  # in no bound: the default
    ("", "delete from orders where at < '2023-01-01'"),
    ("", "delete from orders where at <= '2023-01-01'"),
    ("", "delete from orders where at >= '2023-01-01' and at < '2024-01-01'"),
    ("", "delete from orders where at >= '2023-01-01' and at <= '2024-01-01'"),
    ("", "delete from orders o where o.at in ('2023-05-01', '2023-06-01')"),
    ("", "delete from orders where at = date '2023-05-01' and id > 3"),
    ("", "delete from orders where at = '2023-05-01' and at = '2023-06-01'"),  # none
    ("", "delete from orders where id = 1 or parent_id = 2"),
    ("", "update orders set at = '2024-06-01' where id = 1"),
    ("", "update orders set id = 1 from parent where parent.id = orders.parent_id"),
    ("", "select * from orders where at = '2023-05-01'"),
    ("", "select * from orders where at = '2023-05-01' for update"),
    ("", "merge into orders o using parent p on o.id = p.id when matched then delete"),
    ("", "merge into orders o using parent p on o.id = p.id and o.at = '2023-05-01' "
     "when matched then delete"),
    ("", "select * from shipments where at = '2023-05-01'"),  # sub-partitions: theirs
    ("", "select * from shipments where at = '2023-05-01' and region = 1"),
    ("", "select * from shipments where region = 3"),
    ("", "select * from shipments where at = '2024-09-01'"),
    ("", "select * from shipments where at >= '2024-01-01'"),
    ("", "select * from tickets where kind = 5"),
    ("", "select * from tickets where kind in (1, 3)"),
    ("", "select * from tickets where kind < 3"),
    ("", "select * from tickets where kind >= 1 and kind <= 3"),
    ("", "select * from readings where k = 25"),  # between bounds, no default: none
    ("", "select * from readings where k < 15"),
    ("", "select * from readings where k >= 10 and k <= 19"),
    ("alter table orders rename column at to day", "delete from orders where day = '2023-05-01'"),
    # Keys and bounds the release itself writes (CREATE ... PARTITION BY, PARTITION OF,
    # ATTACH) prune as the target's do.
    (EVS, "delete from evs where at = '2020-05-01'"),
    (PARTITIONS, "delete from orders where at = '2025-03-01'"),  # a partition it created
    (EVS, "delete from evs where at = '2022-05-01'"),  # in no bound: the default
    (EVS + "; create table evs_2021 (id int, at date); "
     "alter table evs attach partition evs_2021 for values from ('2021-01-01') to ('2022-01-01')",
     "select * from evs where at >= '2021-02-01' and at < '2021-03-01'"),
    ("create table kinds (id int, kind bigint) partition by list (kind); "
     "create table kinds_1 partition of kinds for values in (1, 2); "
     "create table kinds_3 partition of kinds for values in (3)",
     "update kinds set id = 0 where kind = 3"),
    ("alter table orders rename to purchases", "delete from purchases where at = '2023-05-01'"),
    # Views: DROP ... CASCADE drops (and locks) the views built on what it drops, DROP
    # COLUMN ... CASCADE those using the column; REFRESH reads what the view reads.
    ("", "drop table parent cascade"),
    ("", "alter table parent drop column v cascade"),
    ("", "alter table parent drop column amount cascade"),
    ("", "refresh materialized view totals"),
    ("", "refresh materialized view concurrently totals"),
    (VIEWS := "create view parents_v as select v from parents; "
     "create materialized view parent_names as select v from parents_v",
     "drop view parents cascade"),
    (VIEWS, "refresh materialized view parent_names"),
    (VIEWS, "drop materialized view totals cascade"),
    # A column in a foreign key (either side) changes type: the key is rebuilt, which
    # locks the table at its other end. Its own tables: the schema's views block this.
    (KEYS := "create table acc (id int primary key, name text); "
     "create table led (id int primary key, acc_id int references acc (id), n int); "
     "create table third (id int primary key, led_id int references led (id))",
     "alter table acc alter column id type bigint"),
    (KEYS, "alter table led alter column acc_id type bigint"),
    (KEYS, "alter table led alter column id type bigint"),
    (KEYS, "alter table led alter column n type bigint"),
    # A column in a foreign key is dropped: the key goes with it (CASCADE on the referenced
    # side), which locks the table at its other end.
    (KEYS, "alter table led drop column acc_id"),
    (KEYS, "alter table acc drop column id cascade"),
    (KEYS, "alter table led drop column n"),
    ("", "alter table child drop column parent_id"),
]  # fmt: skip


def test_it_predicts_every_table_a_statement_locks_after_the_release_before_it(server_url):
    wrong = not_exact(server_url, ELSEWHERE)
    assert wrong == [], "\n".join(wrong)


# Statements whose partitions the catalog cannot settle: the one each row goes to (INSERT),
# those a WHERE leaves after pruning. The prediction locks what is certain and says the rest
# in a lock note: PostgreSQL must take exactly the certain locks, and others only on the
# partitions the note names, in the mode it says.
NOTED = [
    ("", "insert into orders values (1, null, '2023-05-01')"),
    ("", "insert into orders values (1, null, '2023-05-01'), (2, null, '2029-01-01')"),
    (PARTITIONS, "insert into orders values (1, null, '2025-03-01')"),  # a sub-partition
    # A WHERE whose pruning is not computed: a cast to another type, an OR of two tables'
    # columns, HAVING, a key the UPDATE sets, a MERGE that inserts, a HASH key of a type
    # not hashed here.
    ("", "delete from orders where at = '2023-05-01'::timestamp"),
    ("", "select * from orders o join parent p on p.id = o.parent_id "
     "where o.at = '2023-05-01' or p.v = 'x'"),
    ("", "select at, count(*) from orders group by at having at = '2023-05-01'"),
    ("", "update orders set at = '2024-06-01' where at = '2023-05-01'"),
    (
        "",
        "merge into orders o using parent p on o.id = p.id when matched then delete "
        "when not matched then insert values (p.id, null, '2024-05-01')",
    ),
    ("create table visits (id int, day date) partition by hash (day); "
     "create table visits_0 partition of visits for values with (modulus 2, remainder 0); "
     "create table visits_1 partition of visits for values with (modulus 2, remainder 1)",
     "select * from visits where day = '2024-05-01'"),
]  # fmt: skip


def test_it_notes_the_partitions_a_row_or_a_where_chooses(server_url):
    wrong = []
    for earlier, text in NOTED:
        resolved, modes = predicted_and_taken(server_url, earlier, text)
        certain = {t: m for t, m in modes.items() if t in resolved.locks}
        noted = {
            t: m
            for t, m in modes.items()
            if any(
                f"{m.label} on " in n and t in re.findall(r"[\w.]+", n) for n in resolved.lock_notes
            )
        }
        if (
            certain != resolved.locks
            or len(resolved.lock_notes) != 1
            or {
                **certain,
                **noted,
            }
            != modes
        ):
            wrong.append(mismatch(text, resolved, modes))
    assert wrong == [], "\n".join(wrong)
