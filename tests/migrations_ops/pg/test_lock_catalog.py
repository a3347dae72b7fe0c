"""Statements common in Supabase migrations that change a table's catalog entries outside
ALTER TABLE (publications for Realtime, extended statistics, SET SCHEMA, comments on a
table's policies, triggers and constraints, REFRESH ... WITH NO DATA): predicted after the
release's earlier statements and compared with PostgreSQL's locks table by table."""

from __future__ import annotations

import re

from tests.migrations_ops.pg.lock_world import (
    SCHEMA,
    labels,
    not_exact,
    predicted_and_taken,
)

REALTIME = SCHEMA + "create publication supabase_realtime;"
ADDED = "alter publication supabase_realtime add table parent"

EXACT = [
    ("", "alter publication supabase_realtime add table child"),
    ("", "alter publication supabase_realtime add table child (id, n) where (n > 0)"),
    ("", "alter publication supabase_realtime add table orders, shipments"),  # no partition
    ("", "alter publication supabase_realtime add table base"),  # its INHERITS children
    ("", "alter publication supabase_realtime add table only base"),
    (ADDED, "alter publication supabase_realtime drop table parent"),
    ("", "create publication p2 for table child, orders"),
    ("", "create publication p3 for all tables"),
    ("", "create statistics st1 on n, s from child"),
    ("", "alter table orders set schema app"),
    ("", "alter view parents set schema app"),
    ("", "alter materialized view totals set schema app"),
    ("alter table orders set schema app", "delete from app.orders where at = '2023-05-01'"),
    ("", "comment on policy child_read on child is 'who reads'"),
    ("", "comment on trigger child_touch on child is 'touches'"),
    ("", "comment on constraint child_n_positive on child is 'positive'"),
    ("", "refresh materialized view totals with no data"),
]


def test_it_predicts_the_locks_of_catalog_statements(server_url):
    wrong = not_exact(server_url, EXACT, REALTIME)
    assert wrong == [], "\n".join(wrong)


def test_set_table_notes_the_tables_it_takes_out_of_the_publication(server_url):
    resolved, modes = predicted_and_taken(
        server_url, ADDED, "alter publication supabase_realtime set table other", REALTIME
    )
    assert resolved.locks == {"public.other": modes["public.other"]}
    (note,) = resolved.lock_notes
    assert "SHARE UPDATE EXCLUSIVE" in note and "leaves out" in note
    # PostgreSQL took it on the table SET TABLE took out, in the mode the note says.
    assert labels(modes) == {
        "public.other": "SHARE UPDATE EXCLUSIVE",
        "public.parent": "SHARE UPDATE EXCLUSIVE",
    }
    assert re.search(r"SHARE UPDATE EXCLUSIVE on each table", note)
