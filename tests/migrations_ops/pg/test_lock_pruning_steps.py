"""Conditions on one partition key prune step by step: each condition keeps the
partitions its values reach, and the planner intersects those sets (not the values):
compared with PostgreSQL's locks table by table (lock_world)."""

from __future__ import annotations

from tests.migrations_ops.pg.lock_world import not_exact

# Each was predicted to lock no partition at all (the values' intersection is empty),
# or too few, while PostgreSQL locks the partitions each condition alone reaches.
STEPS = [
    "select * from readings where k < 12 and k > 15",
    "select * from readings where k >= 12 and k <= 11",
    "select * from readings where k < 5 and k > 8",
    "select * from readings where k = 5 and k > 8",
    "select * from readings where k in (5, 15) and k > 8",
    "delete from orders where at < '2023-02-01' and at > '2023-06-01'",  # no default
    "update tickets set id = 1 where kind < 2 and kind > 2",  # the default only
    # ... and still: two constants one column equals is a contradiction (none).
    "select * from readings where k = 5 and k = 15",
    "select * from readings where k <= 5 and k >= 5",
]


def test_each_condition_prunes_on_its_own_and_the_results_intersect(server_url):
    wrong = not_exact(server_url, [("", text) for text in STEPS])
    assert wrong == [], "\n".join(wrong)


# BETWEEN is its two comparisons; a comparison with what is not a constant when the query
# is planned (now(), current_date, an expression calling them) prunes nothing, and the
# other conditions still do.
PLANNED = [
    "delete from orders where at between '2023-01-01' and '2023-02-01'",
    "delete from orders where at between '2022-01-01' and '2023-02-01'",
    "select * from readings where k between 12 and 35",
    "delete from orders where at = current_date",
    "delete from orders where at < now() - interval '90 days'",
    "delete from orders where at < current_date and at >= '2023-06-01'",
    "update orders set id = 0 where at = current_date and id = 1",
]


def test_between_prunes_and_a_value_known_only_when_run_does_not(server_url):
    wrong = not_exact(server_url, [("", text) for text in PLANNED])
    assert wrong == [], "\n".join(wrong)
