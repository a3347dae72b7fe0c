"""The lock mode predicted from a statement's text is the one PostgreSQL really takes.

Each statement runs in a transaction on a database holding lock_world's schema, and the
strongest mode granted on a relation that existed before is compared with the prediction
(``statement_effects`` + ``release_risk``, with the database's catalog as the target). The
tables a statement locks besides the one it names: test_lock_elsewhere.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from migrations_ops.pg import release_risk, target_facts
from migrations_ops.pg.apply import MigrationFile
from migrations_ops.pg.locks import LockMode
from tests.migrations_ops.pg.lock_world import SCHEMA, observe

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
