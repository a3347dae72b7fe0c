"""The tables a query with several tables locks (UPDATE ... FROM, DELETE ... USING, joins,
MERGE's target and source), each one's partitions pruned by its own conditions and by the
constants its join columns are equal to, compared with PostgreSQL's locks table by table
(lock_world). A prediction must be exact here: no lock note."""

from __future__ import annotations

import re

from tests.migrations_ops.pg.lock_world import (
    SCHEMA,
    mismatch,
    not_exact,
    predicted_and_taken,
)

# A plain table to join on a partition key.
JOINS = SCHEMA + "create table staged (id int, at date, kind int, amount numeric);"

EXACT = [
    # A partitioned table read beside the one changed: its partitions, as its own
    # conditions leave them.
    "update orders set id = 1 from tickets t where t.id = orders.id",
    "update orders set id = 1 from tickets t where t.id = orders.id and t.kind = 3",
    "update orders set id = 1 from tickets where kind = 3 and tickets.id = orders.id",
    "delete from child using tickets t where t.id = child.id",
    "delete from orders o using tickets t where o.id = t.id and t.kind in (1, 2)",
    "update child set n = 1 from orders o where o.id = child.id and o.at = '2023-05-01'",
    "select * from orders o join tickets t on t.id = o.id where t.kind = 1",
    "select * from (select * from tickets where kind in (1, 2)) t join orders o "
    "on o.id = t.id where o.at >= '2024-01-01'",
    # The key known through the join: an equivalence class with a constant.
    "delete from orders o using staged s where o.at = s.at and s.at = '2023-05-01'",
    "update orders o set id = 1 from staged s where o.at = s.at and s.at = '2023-05-01'",
    "select * from orders o join staged s on s.at = o.at where s.at = '2023-05-01'",
    "select * from tickets t1 join tickets t2 on t1.kind = t2.kind where t1.kind = 3",
    "select * from orders o join readings r on r.k = o.id where o.id = 15",
    # ... and not known: a join without a constant, a scalar subquery (a Param at plan
    # time) prune nothing.
    "delete from orders o using staged s where o.at = s.at",
    "delete from orders where at = (select max(at) from staged)",
    "delete from orders where at = '2023-05-01' and id = (select max(id) from tickets "
    "where kind = 3)",
    "with x as (select * from tickets where kind = 3) delete from orders o using x "
    "where x.id = o.id and o.at = '2023-05-01'",
    # MERGE: the target and the source are joined by the ON (an inner join without WHEN
    # NOT MATCHED); the WHEN conditions prune nothing.
    "merge into orders o using tickets t on o.id = t.id when matched then delete",
    "merge into orders o using tickets t on o.id = t.id and t.kind = 3 when matched then delete",
    "merge into orders o using (select * from tickets where kind = 3) t on o.id = t.id "
    "when matched then delete",
    "merge into orders o using staged s on o.at = s.at and s.at = '2023-05-01' "
    "when matched then delete",
    "merge into orders o using parent p on o.id = p.id when matched and o.at = '2023-05-01' "
    "then delete",
]


def test_each_table_of_a_join_gets_the_partitions_its_conditions_keep(server_url):
    wrong = not_exact(server_url, [("", text) for text in EXACT], JOINS)
    assert wrong == [], "\n".join(wrong)


# A MERGE that inserts joins source LEFT JOIN target: the ON's conditions on the target
# still prune it, the source keeps every partition; the partition a new row goes to is
# the row's (a lock note, checked against what PostgreSQL took on rows it inserted).
INSERTING = [
    (
        "merge into orders o using tickets t on o.id = t.id and t.kind = 3 "
        "when not matched then insert values (t.id, null, '2023-05-01')",
        [],
    ),
    (
        "merge into orders o using tickets t on o.id = t.id and t.kind = 3 "
        "and o.at = '2023-02-01' when matched then update set id = 1 "
        "when not matched then insert values (t.id, null, '2023-05-01')",
        [],
    ),
    (
        "merge into orders o using staged s on o.id = s.id and o.at = '2023-02-01' "
        "when not matched then insert values (s.id, null, s.at)",
        ["insert into staged values (1, '2029-01-01', 1)"],
    ),
]


def test_a_merge_that_inserts_prunes_its_target_and_notes_the_rows_partitions(server_url):
    wrong = []
    for text, rows in INSERTING:
        resolved, modes = predicted_and_taken(server_url, ";".join(rows) or "", text, JOINS)
        certain = {t: m for t, m in modes.items() if t in resolved.locks}
        noted = {t: m for t, m in modes.items() if t not in certain}
        (note,) = resolved.lock_notes or ("",)
        if (
            certain != resolved.locks
            or len(resolved.lock_notes) != 1
            or "chosen by the row" not in note
            or any(t not in note or m.label not in note for t, m in noted.items())
        ):
            wrong.append(mismatch(text, resolved, modes))
    assert wrong == [], "\n".join(wrong)


# A subquery in FROM or a CTE the enclosing query's conditions reach (pushed down into it,
# or its own conditions pulled up into the join): what the planner carries across is not
# read, so the partitions are a lock note, and never a wrong certain lock.
CARRIED = [
    "select * from (select * from tickets) t where t.kind = 3",
    "with x as (select * from tickets) select * from x where kind = 3",
    "select * from (select * from tickets) t join orders o on o.id = t.kind where o.id = 3",
    "update orders set id = 1 from (select * from tickets) t where t.kind = 3 and t.id = orders.id",
    "merge into orders o using (select * from tickets) t on o.id = t.id and t.kind = 3 "
    "when matched then delete",
    "select * from orders o join (select at from staged where at = '2023-05-01') s on s.at = o.at",
    "with x as (select * from staged where at = '2023-05-01') delete from orders o using x "
    "where x.at = o.at",
    # An integer key joined to a numeric column: compared through a cast, it does not
    # prune, whatever the numeric column equals.
    "select * from readings r join staged s on r.k = s.amount where s.amount = 5",
]


def test_what_a_subquery_or_a_cte_carries_across_is_a_note_never_a_wrong_lock(server_url):
    wrong = []
    for text in CARRIED:
        resolved, modes = predicted_and_taken(server_url, "", text, JOINS)
        certain = {t: m for t, m in modes.items() if t in resolved.locks}
        words = set(re.findall(r"[\w.]+", " ".join(resolved.lock_notes)))
        noted = {t for t in modes if t not in certain}
        if certain != resolved.locks or not resolved.lock_notes or not noted <= words:
            wrong.append(mismatch(text, resolved, modes))
    assert wrong == [], "\n".join(wrong)
