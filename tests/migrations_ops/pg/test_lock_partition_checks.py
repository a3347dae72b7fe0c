"""A statement on a partition named directly also opens the partition's ancestors, ACCESS
SHARE, to read its partition constraint: an INSERT into any partition (its rows are
checked against its bounds), a query, UPDATE or DELETE of one that is itself partitioned
(its own partitions are pruned within them). Predicted as PostgreSQL 15 takes them
(``pg_locks``); a leaf partition's query or UPDATE opens no ancestor."""

import pytest

from tests.migrations_ops.pg.lock_world import not_exact, predicted_and_taken

TREE = """
create table p (k int, d int) partition by range (k);
create table p1 partition of p for values from (0) to (10) partition by range (d);
create table p1a partition of p1 for values from (0) to (5);
create table p1b partition of p1 for values from (5) to (10);
create table p2 partition of p for values from (10) to (20);
create table other (k int, d int);
"""

CASES = [
    ("", "insert into p2 values (12, 1)"),
    ("", "insert into p1a values (1, 1)"),
    ("", "insert into p2 (k) values (15)"),
    ("", "select * from p1"),
    ("", "select * from p1 where d = 1"),
    ("", "update p1 set k = 1 where d = 2"),
    ("", "delete from p1 where d = 1"),
    ("", "delete from p1"),
    # A leaf partition read or changed in place: no ancestor.
    ("", "select * from p2 where k = 12"),
    ("", "update p2 set d = 1 where k = 12"),
    ("", "delete from p1a"),
    ("", "select count(*) from p1a"),
    # Through the root: no partition constraint is read.
    ("", "select * from p where k = 12"),
]


def test_a_partition_named_directly_opens_its_ancestors_as_postgresql_does(server_url):
    wrong = not_exact(server_url, CASES, TREE)
    assert wrong == [], "\n".join(wrong)


@pytest.mark.parametrize(
    "text",
    [
        "insert into p2 select k + 10, d from other",
        "merge into p2 t using other s on t.k = s.k when not matched then insert values (15, 1)",
    ],
)
def test_an_insert_fed_by_a_query_notes_what_a_row_would_open(server_url, text):
    """INSERT ... SELECT (or MERGE's insert) checks a row against the partition's bounds
    only if its source gives one: PostgreSQL took no ancestor lock for an empty one, so
    it is a note, not a certain lock."""
    resolved, modes = predicted_and_taken(server_url, "", text, TREE)
    assert "public.p" not in modes and "public.p" not in resolved.locks
    assert any(
        n.startswith(f"{text.split()[0].upper()} also takes ACCESS SHARE on public.p if it inserts")
        for n in resolved.lock_notes
    ), resolved.lock_notes
