"""Plan-time pruning of an OR on the key, of ``IS NULL`` / ``IS NOT NULL``, and of HASH
partitions, compared with the locks PostgreSQL 15 takes, table by table (lock_world), and
the partition hash with ``satisfies_hash_partition()`` on the server."""

from __future__ import annotations

import random
import uuid

import psycopg
import pytest

from migrations_ops.pg import hash_partitions
from tests.migrations_ops.pg.lock_world import (
    SCHEMA,
    mismatch,
    not_exact,
    not_noted,
    predicted_and_taken,
    schema_world,
)

# The tables these tests add to lock_world's.
MORE = """
create table hits (id int, k bigint) partition by hash (k);
create table hits_0 partition of hits for values with (modulus 4, remainder 0);
create table hits_1 partition of hits for values with (modulus 4, remainder 1);
create table hits_3 partition of hits for values with (modulus 4, remainder 3);
create table hits_2 partition of hits for values with (modulus 8, remainder 2);
create table hits_6 partition of hits for values with (modulus 8, remainder 6);
create table halves (k int) partition by hash (k);
create table halves_0 partition of halves for values with (modulus 4, remainder 0);
create table halves_1 partition of halves for values with (modulus 4, remainder 1);
create table smalls (k smallint) partition by hash (k);
create table smalls_0 partition of smalls for values with (modulus 3, remainder 0);
create table smalls_1 partition of smalls for values with (modulus 3, remainder 1);
create table smalls_2 partition of smalls for values with (modulus 3, remainder 2);
create table tags (id int, t text) partition by hash (t);
create table tags_0 partition of tags for values with (modulus 3, remainder 0);
create table tags_1 partition of tags for values with (modulus 3, remainder 1);
create table tags_2 partition of tags for values with (modulus 3, remainder 2);
create table keys (id uuid) partition by hash (id);
create table keys_0 partition of keys for values with (modulus 2, remainder 0);
create table keys_1 partition of keys for values with (modulus 2, remainder 1);
create table pairs (a int, b text, c int) partition by hash (a, b);
create table pairs_0 partition of pairs for values with (modulus 3, remainder 0);
create table pairs_1 partition of pairs for values with (modulus 3, remainder 1);
create table pairs_2 partition of pairs for values with (modulus 3, remainder 2);
create table spans (a int, b int) partition by range (a, b);
create table spans_1 partition of spans for values from (1, 0) to (2, 0);
create table spans_2 partition of spans for values from (2, 0) to (3, 0);
create table hsub (id int, k int, at date) partition by hash (k);
create table hsub_0 partition of hsub for values with (modulus 2, remainder 0)
  partition by range (at);
create table hsub_0a partition of hsub_0 for values from ('2024-01-01') to ('2025-01-01');
create table hsub_0d partition of hsub_0 default;
create table hsub_1 partition of hsub for values with (modulus 2, remainder 1);
create table zones (id int, z int) partition by list (z);
create table zones_1 partition of zones for values in (1);
create table zones_rest partition of zones default partition by list (z);
create table zones_rest_5 partition of zones_rest for values in (5);
create table zones_rest_d partition of zones_rest default;
create collation if not exists loose (provider = icu, locale = 'und-u-ks-level2',
  deterministic = false);
create table handles (h text collate loose) partition by hash (h);
create table handles_0 partition of handles for values with (modulus 2, remainder 0);
create table handles_1 partition of handles for values with (modulus 2, remainder 1);
create table grid (id int, a int, d date) partition by range (a, d);
create table grid_1 partition of grid for values from (1, minvalue) to (1, maxvalue);
create table grid_2a partition of grid for values from (2, '2024-01-01') to (2, '2024-07-01');
create table grid_2b partition of grid for values from (2, '2024-07-01') to (3, '2024-01-01');
create table grid_rest partition of grid default;
create table kinds (id int, kind int) partition by list (kind);
create table kinds_1 partition of kinds for values in (1, 2);
create table kinds_rest partition of kinds default;
create table sorts (id int, kind int) partition by list (kind);
create table sorts_1 partition of sorts for values in (1, 2);
create table sorts_5 partition of sorts for values in (null, 5);
create table visits (id int, day date) partition by hash (day);
create table visits_0 partition of visits for values with (modulus 2, remainder 0);
create table visits_1 partition of visits for values with (modulus 2, remainder 1);
create table words (w text) partition by hash (w text_pattern_ops);
create table words_0 partition of words for values with (modulus 2, remainder 0);
create table words_1 partition of words for values with (modulus 2, remainder 1);
"""
WORLD = SCHEMA + MORE


@pytest.fixture(scope="module")
def server_url() -> str:
    from migrations_ops.pg import pgtools

    return pgtools.scratch_server_url()


@pytest.fixture(scope="module")
def world(server_url):
    with schema_world(server_url, WORLD) as url:
        yield url


# An OR: each arm prunes on its own and the planner keeps the union; an arm that says
# nothing about the key keeps every partition; a conjunction inside an arm intersects
# (without the equivalence classes of the top level: k = 1 AND k = 2 is no contradiction
# there), an arm that contradicts itself is left out.
OR = [
    "select * from readings where k = 1 or k = 15",
    "select * from readings where k = 1 or k = 25",  # 25 is in no partition (no default)
    "select * from readings where (k < 10 and id = 1) or k > 100",
    "select * from readings where k in (1, 15) or k = 35",
    "select * from readings where k = 1 or id = 2",
    "select * from readings where (k = 1 and k = 2) or k = 25",
    "select * from readings where (k = 1 and k = 15) or k = 35",
    "select * from readings where k > 5 and (k = 1 or k = 15)",
    "select * from readings where k = 1 and (k = 15 or k = 35)",
    "select * from readings where k = 1 or k = 15 or k between 30 and 40",
    "delete from orders where at = '2023-05-01' or at = '2029-01-01'",
    "delete from orders where at < '2023-01-01' or at >= '2024-01-01'",
    "delete from orders where at = '2023-05-01' or id = 1",
    "delete from orders where at = '2023-05-01' or at = current_date",
    "update tickets set id = 1 where kind = 1 or kind = 3",
    "update tickets set id = 1 where kind = 1 or kind = 7",
    "select * from tickets where kind = 1 or (kind > 2 and kind < 4)",
    "select * from tickets where (kind = 1 or kind = 3) and (kind = 3 or kind = 5)",
    "select * from tickets where kind = 1 or (kind = 3 or (kind = 5 and id = 1))",
    "select * from tickets t where t.kind = 1 or t.kind = 2",
    "select * from shipments where at = '2023-05-01' and (region = 1 or region = 5)",
    "select * from shipments where at = '2023-05-01' or at = '2024-03-01'",
    "select * from readings r join parent p on p.id = r.id where r.k = 1 or r.k = 15",
    "select * from kinds where kind = 1 or kind = 2",
    "select * from kinds where kind = 1 or kind = 3",
    "select * from sorts where kind = 1 or id = 3",  # the NULL partition too
    # In a partition's own partitions, an arm without their key whose condition its
    # bounds rule out is left out (predicate_refuted_by): shipments_2023's region.
    "select * from shipments where (at = '2023-05-01' and region is null) or at = '2024-02-01'",
    "select * from shipments where (at = '2023-05-01' and region = 1) or at = '2024-02-01'",
    "select * from shipments where (at = '2023-05-01' and region = 1) or at = '2023-07-01'",
    "select * from shipments where (at = '2023-05-01' and region = 1) "
    "or at in ('2024-02-01', '2024-03-01')",
    "select * from shipments where (at = '2023-05-01' and region = 1) or at > '2024-06-01'",
    "select * from shipments where (at = '2023-05-01' and region = 1) "
    "or (at = '2024-02-01' and id = 3) or at < '2022-01-01'",
    "select * from readings where k = 1 or k = 15 or false",  # an arm FALSE is dropped
    "select * from readings where k = 1 or true",
    # What every arm says is taken out of the OR (process_duplicate_ors): k = 1 AND k = 2
    # is then a contradiction of the top level (none), and an arm left without a key
    # condition keeps everything.
    "select * from readings where (k = 1 and k = 2 and id = 1) or (k = 2 and id = 2 and k = 1)",
    "select * from readings where (k = 1 and id = 1) or (k = 1 and k = 15)",
    "select * from readings where (k = 1 and id = 1) or k = 1",
    "select * from tickets where (kind = 1 or kind = 3) and (kind is null or (kind = 3 or id = 1))",
]


def test_an_or_keeps_the_union_of_what_each_arm_keeps(server_url, world):
    wrong = not_exact(server_url, [("", text) for text in OR], WORLD, world=world)
    assert wrong == [], "\n".join(wrong)


# IS NULL: in LIST, the partition whose list holds NULL, else the default; in RANGE, the
# default only. With another condition on the key, a contradiction (strict operators).
# IS NOT NULL alone: every partition holding a value, and the default.
NULLS = [
    "select * from tickets where kind is null",
    "select * from tickets where kind is not null",
    "update tickets set id = 2 where kind is null",
    "select * from tickets where kind is null or kind = 3",
    "select * from tickets where kind is null and kind = 3",
    "select * from tickets where kind is null and id = 1",
    "select * from tickets where (kind is null and kind = 1) or kind = 3",
    "select * from tickets where kind is not null and kind = 3",
    "select * from tickets where kind is not null and kind < 3",
    "delete from orders where at is null",
    "delete from orders where at is not null",
    "delete from orders where at is null or at = '2023-05-01'",
    "delete from orders where at is not null and (at = '2023-05-01' or at = '2022-05-01')",
    "delete from orders where at is not null and (at = '2023-05-01' or at = '2029-05-01')",
    "select * from readings where k is null",
    "select * from readings where k is not null",
    "select * from readings where k is null or k = 15",
    "select * from kinds where kind is null",
    "select * from kinds where kind is not null",
    "select * from kinds where kind is null and kind = 7",  # both want the default: none
    "select * from kinds where kind is null and kind > 0",
    "select * from kinds where kind is null and kind in (7, 8)",  # IN: no contradiction
    "select * from tickets where kind is null and kind in (1, 3)",
    "select * from sessions where id is null and id in (1, 2, 3)",
    "select * from sorts where kind is null",
    "select * from sorts where kind is not null",
    "select * from sorts where kind = 5 or kind = 1",
    "select * from shipments where region is null",
    "select * from shipments where at is not null and at >= '2024-03-01'",
    "select * from shipments where at >= '2024-03-01' and (at is null or at = '2024-09-01')",
]


def test_is_null_and_is_not_null_on_the_key_prune_as_postgresql_does(server_url, world):
    wrong = not_exact(server_url, [("", text) for text in NULLS], WORLD, world=world)
    assert wrong == [], "\n".join(wrong)


# HASH: "=" and IN keep the partitions of the values' hashes (a value whose remainder has
# no partition: none); any other comparison keeps every partition; IS NULL hashes to 0.
HASH = [
    "select * from hits where k = 0",
    "select * from hits where k = 1",
    "select * from hits where k = 2",
    "select * from hits where k = 3",
    "select * from hits where k = 5",
    "select * from hits where k = 8",
    "select * from hits where k = 13",
    "select * from hits where k = -1",
    "select * from hits where k = 5000000000",
    "select * from hits where k in (1, 2, 3, 4, 5)",
    "update hits set id = 0 where k = 7",
    "delete from hits where k = 11 or k = 12",
    "select * from hits where k < 5",
    "select * from hits where k is null",
    "select * from hits where k is not null",
    "select * from halves where k = 0",
    "select * from halves where k = 1",
    "select * from halves where k = 2",
    "select * from halves where k = 3",
    "select * from halves where k = 4",
    "select * from halves where k = 5",
    "select * from halves where k = 6",
    "select * from halves where k = 7",
    "select * from halves where k = 8",
    "select * from halves where k = 9",
    "select * from halves where k = 10",
    "select * from halves where k = 11",
    "select * from smalls where k = -3",
    "select * from smalls where k = 0",
    "select * from smalls where k = 4",
    "select * from smalls where k = 700",
    "select * from sessions where id = 1",
    "select * from hsub where k = 1",  # a HASH partition's own partitions
    "select * from hsub where k = 2",
    "select * from hsub where k = 2 and at = '2024-05-01'",
    "select * from hsub where (k = 2 or k = 4) and at is null",
    "select * from sessions where id in (1, 2, 3)",
    "select * from sessions where id = 1 and id = 2",
    "select * from sessions where id is null",
    "select * from sessions where id = 1 or id > 7",
    "select * from tags where t = 'alpha'",
    "select * from tags where t = 'beta'",
    "select * from tags where t = 'gamma'",
    "select * from tags where t = 'ünï'",
    "select * from tags where t = ''",
    "select * from tags where t in ('a', 'b')",
    "select * from tags where t < 'm'",
    "select * from keys where id = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'",
    "select * from keys where id = '00000000-0000-0000-0000-000000000001'",
]


# Several key columns (HASH): only when each has an = (or IS NULL) in one conjunction, the
# partitions of each combination of their values; an IN list is an OR of its own whose
# arms miss the other columns: no pruning.
PAIRS = [
    "select * from pairs where a = 1 and b = 'x'",
    "update pairs set c = 0 where b = 'x' and a = 7",
    "select * from pairs where a = 1",
    "select * from pairs where a = 1 and b is null",
    "select * from pairs where a is null and b is null",
    "select * from pairs where a is null and b = 'q'",
    "select * from pairs where a in (1, 2) and b = 'x'",
    "select * from pairs where (a = 1 and b = 'x') or (a = 2 and b = 'y')",
    "select * from pairs where (a = 1 and a = 2 and b = 'x') or (a = 3 and b = 'z')",
    "select * from pairs where a = 1 and b = 'x' and c = 5",
    "select * from pairs where a = 1 and b < 'x'",
    "select * from pairs where a = 1 and b = 'x' and b is null",
    "select * from pairs where a = 1 and a = 2 and b = 'x'",
]


def test_a_hash_key_of_several_columns_prunes_when_every_column_is_known(server_url, world):
    wrong = not_exact(server_url, [("", text) for text in PAIRS], WORLD, world=world)
    assert wrong == [], "\n".join(wrong)


# A RANGE key of several columns: an = on each keeps the partition holding that row of
# values (bounds compared column after column, MINVALUE and MAXVALUE included), or the
# default; IS NULL on one keeps the default.
GRID = [
    "select * from grid where a = 1 and d = '2024-05-01'",
    "select * from grid where a = 2 and d = '2024-03-01'",
    "select * from grid where d = '2024-07-01' and a = 2",
    "select * from grid where a = 2 and d = '2023-01-01'",
    "select * from grid where a = 2 and d = '2030-01-01'",
    "select * from grid where a = 3 and d = '2023-06-01'",
    "select * from grid where a = 3 and d = '2024-06-01'",
    "delete from grid where a = 0 and d = '2024-01-01'",
    "select * from grid where (a = 1 and d = '2024-01-01') or (a = 2 and d = '2024-08-01')",
    "select * from grid where a = 1 and d is null",
    "select * from grid where a is null",
    "select * from grid where a = 1 and d = '2024-01-01' and id = 3",
    "select * from grid where id = 3",
    "select * from spans where a = 1 and b = 5",
    "select * from spans where a = 2 and b = -1",
    "select * from spans where a = 5 and b = 1",
]


def test_a_range_key_of_several_columns_prunes_an_equal_row(server_url, world):
    wrong = not_exact(server_url, [("", text) for text in GRID], WORLD, world=world)
    assert wrong == [], "\n".join(wrong)


# A HASH table the release itself creates: its key and bounds are read from its text.
CREATED = (
    "create table pings (id bigint) partition by hash (id); "
    "create table pings_0 partition of pings for values with (modulus 3, remainder 0); "
    "create table pings_1 partition of pings for values with (modulus 3, remainder 1); "
    "create table pings_2 partition of pings for values with (modulus 3, remainder 2)"
)


def test_hash_partitions_are_chosen_by_the_values_hash(server_url, world):
    cases = [("", text) for text in HASH] + [(CREATED, "delete from pings where id = 42")]
    wrong = not_exact(server_url, cases, WORLD, world=world)
    assert wrong == [], "\n".join(wrong)


# A partition queried by its own name: PostgreSQL adds its bounds and its ancestors' to the
# conditions on it (rel->partition_qual), as for one reached through its parent. It also
# takes ACCESS SHARE on those ancestors while it reads that constraint the first time in a
# session (generate_partition_qual): predicted too (test_lock_partition_checks.py).
OWN = {
    "select * from shipments_2024 where at < '2024-03-01'": {"public.shipments"},
    "select * from shipments_2023 where region = 1 or at = '2024-02-01'": {"public.shipments"},
    "select * from hsub_0 where at = '2024-02-01' or k = 3": {"public.hsub"},
}


def test_a_partition_named_by_the_query_prunes_within_its_own_bounds(server_url, world):
    wrong = []
    for text, ancestors in OWN.items():
        resolved, modes = predicted_and_taken(server_url, "", text, WORLD, world=world)
        if resolved.locks != modes or resolved.lock_notes or not ancestors <= set(modes):
            wrong.append(mismatch(text, resolved, modes))
    assert wrong == [], "\n".join(wrong)


# What is still not computed: an OR of two tables' columns (a join clause, from which the
# planner may extract a restriction), an OR with one arm left, a HASH key of a type not
# hashed here, or with an operator class that is not its type's default, a numeric
# constant. The certain locks are exact, the others are in the one note, which says why.
NOTED = {
    "select * from readings r join parent p on p.id = r.id where r.k = 1 or p.v = 'x'": (
        "an OR of several tables' columns"
    ),
    # One arm left: ANDed with the conditions around it (k = 1 AND k = 2: none).
    "select * from readings where (k = 1 and k = 2) or false": "in a form not evaluated here",
    "select * from visits where day = '2024-05-01'": "not done here for a date key",
    "select * from words where w = 'x'": "not its type's default",
    "select * from handles where h = 'ab'": "a nondeterministic collation (loose)",
    "select * from spans where a = 1": "the RANGE partition key has several columns",
    "select * from grid where a = 2 and d > '2024-03-01'": "compared here only with =",
    # a = 2 is in both arms: the planner takes it out of the OR, a prefix of the key.
    "select * from spans where (a = 1 and a = 2 and b = 0) or (a = 2 and b = 5)": (
        "compared here only with ="
    ),
    # Below a LIST default partition: its bound is NOT of the others', not read here.
    "select * from zones where z = 5": "is itself a partition",
    # Beyond int8, a literal is a numeric: the key is compared through a cast.
    "select * from readings where k > 99999999999999999999": "is not compared with int4",
}


def test_it_notes_what_an_or_or_a_hash_key_still_leaves_open(server_url, world):
    wrong = not_noted(server_url, NOTED, WORLD, world=world)
    assert wrong == [], "\n".join(wrong)


def test_the_partition_hash_is_postgresqls(world):
    rng = random.Random(15)
    cases: list[tuple[str, tuple[str, ...], tuple[object, ...]]] = []
    for value in [0, 1, -1, 2**31 - 1, -(2**31), 2**40 + 3, 2**63 - 1, -(2**63)]:
        cases.append(("hits", ("int8",), (value,)))
    cases += [("hits", ("int8",), (rng.randint(-(2**63), 2**63 - 1),)) for _ in range(150)]
    cases += [("halves", ("int4",), (rng.randint(-(2**31), 2**31 - 1),)) for _ in range(100)]
    cases += [("smalls", ("int2",), (v,)) for v in (-32768, -1, 0, 7, 32767)]
    words = ["", "a", "abcd", "hello world!", "hello world!!", "ünïcødé ✓", "x" * 37]
    words += ["".join(rng.choice("abcé😀 ") for _ in range(rng.randint(0, 30))) for _ in range(100)]
    cases += [("tags", ("text",), (w,)) for w in words]
    cases += [("keys", ("uuid",), (uuid.UUID(int=rng.getrandbits(128)),)) for _ in range(100)]
    pairs = [(rng.randint(-1000, 1000), rng.choice(words)) for _ in range(50)]
    pairs += [(None, "x"), (7, None), (None, None)]
    cases += [("pairs", ("int4", "text"), pair) for pair in pairs]
    wrong = []
    with psycopg.connect(world, autocommit=True) as conn:
        for table, types, values in cases:
            found = hash_partitions.row_hash(types, values)
            assert found is not None
            casts = ", ".join("%s::" + type_name for type_name in types)
            for modulus in (3, 8):
                holds = conn.execute(
                    "select satisfies_hash_partition(%s::regclass, %s, %s, " + casts + ")",
                    [table, modulus, found % modulus, *values],
                ).fetchone()
                if holds != (True,):
                    wrong.append(f"{types} {values!r} modulus {modulus}")
    assert wrong == []
