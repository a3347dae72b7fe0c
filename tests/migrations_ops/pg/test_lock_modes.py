"""The lock mode predicted from a statement's text is the one PostgreSQL really takes.

Each statement runs in a transaction on a database holding the schema below; a second
connection reads ``pg_locks`` for the backend running it, and the strongest mode granted
on a relation that existed before is compared with the prediction
(``statement_effects`` + ``release_risk``, with the database's catalog as the target).
The transaction is rolled back, so every statement meets the same schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import psycopg
import pytest

from migrations_ops.pg import release_risk, target_facts
from migrations_ops.pg.apply import MigrationFile
from migrations_ops.pg.locks import LockMode

SCHEMA = """
create table parent (id int primary key, v text, amount numeric(10, 2));
create table child (id int primary key, parent_id int references parent (id), n int,
                    s varchar(20), body text);
create index child_n on child (n);
create unique index child_s on child (s);
create materialized view totals as select id from parent;
create unique index totals_id on totals (id);
create view parents as select id, v from parent;
create table other (id int primary key);
create table events (id bigint, at timestamptz) partition by range (at);
create table events_2024 (id bigint, at timestamptz);
alter table child add constraint child_n_positive check (n > 0) not valid;
create function touch() returns trigger language plpgsql as $$ begin return new; end $$;
create trigger child_touch before update on child for each row execute function touch();
create policy child_read on child for select using (true);
create table orders (id int, parent_id int references parent (id), at date)
  partition by range (at);
create table orders_2023 partition of orders for values from ('2023-01-01') to ('2024-01-01');
create table orders_default partition of orders default;
create table orders_2024 (id int, parent_id int, at date);
create schema app;
create table app.accounts (id uuid primary key, owner uuid, name text);
create table base (id int primary key, k int);
create table base_kid (extra int) inherits (base);
create table base_grandkid () inherits (base_kid);
alter table base add constraint base_k_positive check (k > 0) not valid;
create table shipments (id int, at date, region int) partition by range (at);
create table shipments_2023 partition of shipments
  for values from ('2023-01-01') to ('2024-01-01') partition by list (region);
create table shipments_2023_eu partition of shipments_2023 for values in (1, 2);
create table shipments_2023_rest partition of shipments_2023 default;
create table shipments_2024 partition of shipments
  for values from ('2024-01-01') to ('2025-01-01') partition by range (at);
create table shipments_2024_h1 partition of shipments_2024
  for values from ('2024-01-01') to ('2024-07-01');
create table shipments_2024_rest partition of shipments_2024 default;
create table tickets (id int, kind int) partition by list (kind);
create table tickets_1 partition of tickets for values in (1, 2);
create table tickets_3 partition of tickets for values in (3);
create table tickets_null partition of tickets for values in (null);
create table tickets_other partition of tickets default;
create table readings (id int, k int) partition by range (k);
create table readings_low partition of readings for values from (minvalue) to (10);
create table readings_mid partition of readings for values from (10) to (20);
create table readings_high partition of readings for values from (30) to (maxvalue);
create table sessions (id int) partition by hash (id);
create table sessions_0 partition of sessions for values with (modulus 2, remainder 0);
create table sessions_1 partition of sessions for values with (modulus 2, remainder 1);
"""

STATEMENTS = [
    # ALTER TABLE, subcommand by subcommand
    "alter table child add column z int",
    "alter table child add column z int not null default 0",
    "alter table child add column z timestamptz default clock_timestamp()",
    "alter table child add column z bigint generated always as identity",
    "alter table child add column z int references other (id)",
    "alter table child drop column body",
    "alter table child alter column s type varchar(40)",
    "alter table child alter column n type bigint",
    "alter table child alter column n set not null",
    "alter table child alter column n drop not null",
    "alter table child alter column n set default 1",
    "alter table child alter column n set statistics 200",
    "alter table child alter column body set storage external",
    "alter table child add constraint c check (n < 100)",
    "alter table child add constraint c check (n < 100) not valid",
    "alter table child validate constraint child_n_positive",
    "alter table child add constraint u unique (n)",
    "alter table child add constraint u unique using index child_s",
    "alter table other add constraint fk foreign key (id) references parent (id)",
    "alter table other add constraint fk foreign key (id) references parent (id) not valid",
    "alter table child drop constraint child_parent_id_fkey",
    "alter table child drop constraint child_n_positive",
    "alter table child enable row level security",
    "alter table child force row level security",
    "alter table child disable trigger child_touch",
    "alter table child enable trigger all",
    "alter table child set (fillfactor = 70)",
    "alter table child set (autovacuum_enabled = false)",
    "alter table child set (parallel_workers = 2, fillfactor = 80)",
    "alter table child replica identity full",
    "alter table child cluster on child_n",
    "alter table child set logged",
    "alter table child inherit other",
    "alter table events attach partition events_2024 for values from ('2024-01-01') "
    "to ('2025-01-01')",
    "alter table child rename column n to m",
    "alter table child rename to kid",
    "alter table child rename constraint child_n_positive to c2",
    "alter view parents rename to parents2",
    "alter table app.accounts add column email text",
    # indexes
    "create index on child (body)",
    "create unique index child_body on child (body) where body is not null",
    "drop index child_n",
    "reindex index child_n",
    "reindex table child",
    "alter index child_n rename to child_n2",
    # other DDL on existing tables
    "create policy p2 on child for insert with check (n > 0)",
    "create policy p3 on parent for select using (id in (select parent_id from child))",
    "alter policy child_read on child using (n > 1)",
    "drop policy child_read on child",
    "create trigger t2 after insert on child for each row execute function touch()",
    "drop trigger child_touch on child",
    "comment on table child is 'kids'",
    "comment on column child.n is 'count'",
    "create view v2 as select child.n, parent.v from child join parent on parent.id = parent_id",
    "create or replace view parents as select id, v, amount from parent",
    "create table t2 (id int references parent (id))",
    "create table t3 (like child)",
    "create table t4 as select * from child",
    "create table t5 (id int) inherits (other)",
    "create function f2() returns bigint language sql stable as $$ select count(*) from child $$",
    "refresh materialized view totals",
    "refresh materialized view concurrently totals",
    "drop table other",
    "drop table child",
    "drop table parent cascade",
    "drop view parents",
    "drop materialized view totals",
    "truncate other",
    "truncate parent cascade",
    "lock table other in share mode",
    "cluster child using child_pkey",
    "analyze child",
    # data
    "insert into parent values (1, 'a', 1)",
    "insert into child (id, n) select id, 1 from parent",
    "update child set n = 2",
    "update child set n = 2 from parent where parent.id = child.parent_id",
    "delete from other",
    "delete from child where n in (select id from parent)",
    "merge into child c using parent p on c.id = p.id when matched then delete",
    "select * from child for update",
    "select count(*) from parent",
    # no table at all
    "create table brand_new (id int)",
    "create type mood as enum ('ok')",
    "grant select on child to public",
    "create schema s2",
]


@pytest.fixture(scope="module")
def target(server_url) -> Iterator[str]:
    from migrations_ops.pg import scratch

    with scratch.scratch_database(purpose="test_locks", server_url=server_url) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SCHEMA)
        yield url


@pytest.fixture(scope="module")
def server_url() -> str:
    from migrations_ops.pg import pgtools

    return pgtools.scratch_server_url()


def predict(url: str, text: str) -> tuple[LockMode | None, release_risk.Resolved]:
    migration = MigrationFile.from_text("20240101000000_case.sql", text + ";\n")
    files = release_risk.analyse_files([migration])
    with psycopg.connect(url, autocommit=True) as conn:
        facts = target_facts.read_catalog(conn, source="target")
        target_facts.read_details(
            conn,
            facts,
            touched=release_risk.touched_names(files, facts.search_path),
            functions=release_risk.default_functions(files),
        )
    (resolved,) = release_risk.Resolver(facts).resolve(files)
    return resolved.lock, resolved


def observe(url: str, text: str) -> tuple[LockMode | None, dict[str, LockMode], bool]:
    """Strongest mode granted on pre-existing relations, all of them, and a rewrite seen."""
    with (
        psycopg.connect(url, autocommit=True) as conn,
        psycopg.connect(url, autocommit=True) as watcher,
    ):
        relations: dict[int, str] = dict(
            conn.execute(
                "select c.oid, n.nspname || '.' || c.relname from pg_class c "
                "join pg_namespace n on n.oid = c.relnamespace "
                "where c.relkind in ('r', 'p', 'v', 'm', 'f') and n.nspname in ('public', 'app')"
            ).fetchall()
        )
        files: dict[int, int] = dict(
            conn.execute(
                "select oid, relfilenode from pg_class where oid = any(%s)", [list(relations)]
            ).fetchall()
        )
        conn.execute("begin")
        try:
            conn.execute(text)
            granted = watcher.execute(
                "select relation, mode from pg_locks where pid = %s and locktype = 'relation' "
                "and granted",
                [conn.info.backend_pid],
            ).fetchall()
            after: dict[int, int] = dict(
                conn.execute(
                    "select oid, relfilenode from pg_class where oid = any(%s)", [list(relations)]
                ).fetchall()
            )
        finally:
            conn.execute("rollback")
    modes: dict[str, LockMode] = {}
    for oid, mode in granted:
        if oid in relations:
            name = relations[oid]
            found = LockMode.from_label(mode)
            modes[name] = max(found, modes.get(name, found))
    rewrote = any(
        relations[oid].split(".")[1] in ("child", "parent", "other")
        and after.get(oid) not in (files[oid], None)
        for oid in relations
    ) and not text.startswith("truncate")
    return (max(modes.values()) if modes else None), modes, rewrote


def test_it_predicts_the_lock_postgresql_takes_for_every_statement(target):
    mismatches = []
    for text in STATEMENTS:
        predicted, resolved = predict(target, text)
        try:
            observed, modes, _ = observe(target, text)
        except psycopg.Error as e:
            mismatches.append(f"{text!r} failed: {e}")
            continue
        if predicted != observed:
            shown = {k: v.label for k, v in modes.items()}
            mismatches.append(
                f"{text!r}: predicted {predicted and predicted.label}, PostgreSQL took "
                f"{observed and observed.label} {shown}; predicted per table "
                f"{ {k: v.label for k, v in resolved.locks.items()} }"
            )
    assert mismatches == [], "\n".join(mismatches)


def test_it_names_the_table_that_gets_the_strongest_lock(target):
    # The table a statement names is not always the one that gets the strongest lock.
    _, dropped = predict(target, "drop table child")
    assert dropped.locks == {
        "public.child": LockMode.ACCESS_EXCLUSIVE,
        "public.parent": LockMode.ACCESS_EXCLUSIVE,  # its foreign key's triggers live there
    }
    _, index = predict(target, "drop index child_n")
    assert index.locks == {"public.child": LockMode.ACCESS_EXCLUSIVE}
    assert index.tables == ["public.child"]
    _, new = predict(target, "create table brand_new (id int)")
    assert new.locks == {} and new.lock is None


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


def predicted_and_taken(server_url, earlier, text):
    """What the release's analysis predicts for ``text`` after ``earlier`` (a file before
    it, applied to a fresh copy of SCHEMA), and the locks PostgreSQL really takes."""
    from migrations_ops.pg import scratch

    with scratch.scratch_database(purpose="test_locks", server_url=server_url) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SCHEMA)
        files = [MigrationFile.from_text("20240101000000_earlier.sql", earlier + ";\n")]
        files.append(MigrationFile.from_text("20240102000000_case.sql", text + ";\n"))
        with psycopg.connect(url, autocommit=True) as conn:
            facts = target_facts.read_catalog(conn, source="target")
            conn.execute(earlier)
        *_, resolved = release_risk.Resolver(facts).resolve(release_risk.analyse_files(files))
        _, modes, _ = observe(url, text)
    return resolved, modes


def test_it_predicts_every_table_a_statement_locks_after_the_release_before_it(server_url):
    wrong = []
    for earlier, text in ELSEWHERE:
        resolved, modes = predicted_and_taken(server_url, earlier, text)
        if resolved.locks != modes or resolved.lock_notes:
            wrong.append(
                f"{text!r}: predicted {_labels(resolved.locks)} {resolved.lock_notes}, "
                f"PostgreSQL took {_labels(modes)}"
            )
    assert wrong == [], "\n".join(wrong)


# Statements whose partitions the catalog cannot settle: the one each row goes to (INSERT),
# those a WHERE leaves after pruning. The prediction locks what is certain and says the rest
# in a lock note: PostgreSQL must take exactly the certain locks, and others only on the
# partitions the note names, in the mode it says.
NOTED = [
    ("", "insert into orders values (1, null, '2023-05-01')"),
    ("", "insert into orders values (1, null, '2023-05-01'), (2, null, '2029-01-01')"),
    (PARTITIONS, "insert into orders values (1, null, '2025-03-01')"),  # a sub-partition
    # A WHERE whose pruning is not computed: a cast to another type, IS NULL, an OR, a
    # BETWEEN, a function, HAVING, a key the UPDATE sets, a MERGE that inserts, HASH
    # partitioning, partitions the release attached.
    ("", "delete from orders where at = '2023-05-01'::timestamp"),
    ("", "delete from orders where at is null"),
    ("", "delete from orders where at = '2023-05-01' or id = 1"),
    ("", "delete from orders where at between '2023-01-01' and '2023-02-01'"),
    ("", "delete from orders where at = current_date"),
    ("", "select at, count(*) from orders group by at having at = '2023-05-01'"),
    ("", "update orders set at = '2024-06-01' where at = '2023-05-01'"),
    (
        "",
        "merge into orders o using parent p on o.id = p.id when matched then delete "
        "when not matched then insert values (p.id, null, '2024-05-01')",
    ),
    ("", "select * from sessions where id = 1"),
    (PARTITIONS, "delete from orders where at = '2025-03-01'"),
]


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
            wrong.append(
                f"{text!r}: predicted {_labels(resolved.locks)} {resolved.lock_notes}, "
                f"PostgreSQL took {_labels(modes)}"
            )
    assert wrong == [], "\n".join(wrong)


def _labels(locks: dict[str, LockMode]) -> dict[str, str]:
    return {table: mode.label for table, mode in sorted(locks.items())}


REWRITES = {
    "alter table child add column z int": False,
    "alter table child add column z int not null default 0": False,
    "alter table child add column z timestamptz default now()": False,
    "alter table child add column z timestamptz default clock_timestamp()": True,
    "alter table child add column z uuid default gen_random_uuid()": True,
    "alter table child add column z bigint generated always as identity": True,
    "alter table child add column z bigserial": True,
    "alter table child add column z int generated always as (n * 2) stored": True,
    "alter table child alter column s type varchar(40)": False,
    "alter table child alter column s type text": False,
    "alter table child alter column s type varchar(5)": True,
    "alter table child alter column n type bigint": True,
    "alter table child alter column n type int": False,
    "alter table parent alter column amount type numeric(12, 2)": False,
    "alter table parent alter column amount type numeric(12, 4)": True,
    "alter table child alter column body type varchar(10)": True,
    "alter table child alter column n type bigint using n::bigint": True,
    "alter table child drop column body": False,
    "alter table child alter column n set not null": False,
}


def test_it_predicts_rewrites_as_postgresql_does(target):
    wrong = []
    for text, expected in REWRITES.items():
        _, resolved = predict(target, text)
        _, _, rewrote = observe(target, text)
        predicted = bool(resolved.rewrites)
        if (predicted, rewrote) != (expected, expected):
            wrong.append(f"{text!r}: predicted {predicted}, PostgreSQL rewrote: {rewrote}")
    assert wrong == [], "\n".join(wrong)
