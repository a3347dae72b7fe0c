"""The database the lock tests run statements on, and how they watch PostgreSQL's locks.

``observe`` runs a statement in a transaction on a database holding ``SCHEMA``; a second
connection reads ``pg_locks`` for the backend running it. The transaction is rolled back,
so every statement meets the same schema. ``predicted_and_taken`` compares a statement
after the release's earlier file, as a real release's analysis sees it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

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


def predicted_and_taken(server_url, earlier, text, schema=SCHEMA, *, world=None):
    """What the release's analysis predicts for ``text`` after ``earlier`` (a file before
    it, applied to a fresh copy of ``schema``), and the locks PostgreSQL really takes.

    ``world``: a database already holding ``schema`` (``schema_world``), for a case with no
    ``earlier``: ``text`` runs in a transaction rolled back, so it changes nothing there."""
    if world is not None and not earlier:
        return _predicted_and_taken(world, earlier, text)
    with schema_world(server_url, schema) as url:
        return _predicted_and_taken(url, earlier, text)


@contextmanager
def schema_world(server_url: str, schema: str = SCHEMA) -> Iterator[str]:
    """A scratch database holding ``schema``, dropped afterwards."""
    from migrations_ops.pg import scratch

    with scratch.scratch_database(purpose="test_locks", server_url=server_url) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(schema)
        yield url


def _predicted_and_taken(url, earlier, text):
    resolved = _predicted(url, earlier, text)
    if earlier:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(earlier)
    _, modes, _ = observe(url, text)
    return resolved, modes


def _predicted(url, earlier, text) -> release_risk.Resolved:
    """The analysis of ``earlier`` then ``text``, from the catalog of ``url`` before it."""
    files = [MigrationFile.from_text("20240101000000_earlier.sql", earlier + ";\n")]
    files.append(MigrationFile.from_text("20240102000000_case.sql", text + ";\n"))
    analysed = release_risk.analyse_files(files)
    with psycopg.connect(url, autocommit=True) as conn:
        # As the risk job reads the target: its catalog, and the touched tables' columns.
        facts = target_facts.read_catalog(conn, source="target")
        touched = release_risk.touched_names(analysed, facts.search_path)
        target_facts.read_details(conn, facts, touched=touched)
    *_, resolved = release_risk.Resolver(facts).resolve(analysed)
    return resolved


def labels(locks: dict[str, LockMode]) -> dict[str, str]:
    return {table: mode.label for table, mode in sorted(locks.items())}


def mismatch(text: str, resolved: release_risk.Resolved, modes: dict[str, LockMode]) -> str:
    """A prediction that is wrong, in words: the statement, what the analysis predicted
    (locks and notes), what PostgreSQL took."""
    return (
        f"{text!r}: predicted {labels(resolved.locks)} {resolved.lock_notes}, "
        f"PostgreSQL took {labels(modes)}"
    )


def not_exact(
    server_url: str, cases: list[tuple[str, str]], schema: str = SCHEMA, *, world: str = ""
) -> list[str]:
    """Each of ``cases`` ((earlier, text): a file before it, the statement) whose predicted
    locks are not exactly those PostgreSQL takes, or that carries a lock note. ``world``:
    a database already holding ``schema`` (a test module's), else one made for these.

    The cases after the same earlier file share one database: each is predicted from its
    catalog before the file, then, the file applied, observed in a transaction rolled back
    (as ``predicted_and_taken`` does for one case, on a database of its own)."""
    by_earlier: dict[str, list[int]] = {}
    for index, (earlier, _) in enumerate(cases):
        by_earlier.setdefault(earlier, []).append(index)
    wrong: dict[int, str] = {}
    for earlier, indexes in by_earlier.items():
        with contextlib.ExitStack() as stack:
            url = (
                world
                if world and not earlier
                else stack.enter_context(schema_world(server_url, schema))
            )
            predicted = {i: _predicted(url, earlier, cases[i][1]) for i in indexes}
            if earlier:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(earlier)
            for i in indexes:
                resolved, text = predicted[i], cases[i][1]
                _, modes, _ = observe(url, text)
                if resolved.locks != modes or resolved.lock_notes:
                    wrong[i] = mismatch(text, resolved, modes)
    return [wrong[i] for i in sorted(wrong)]


def not_noted(
    server_url: str, noted: dict[str, str], schema: str = SCHEMA, *, world: str | None = None
) -> list[str]:
    """Each statement of ``noted`` (statement -> why it is a note) whose certain locks are
    not exactly those PostgreSQL takes, or whose one lock note does not name every other
    table it locks and ``why``. ``world``: a database already holding ``schema``."""
    wrong = []
    for text, why in noted.items():
        resolved, modes = predicted_and_taken(server_url, "", text, schema, world=world)
        certain = {t: m for t, m in modes.items() if t in resolved.locks}
        named = set(re.findall(r"[\w.]+", " ".join(resolved.lock_notes)))
        if (
            certain != resolved.locks
            or len(resolved.lock_notes) != 1
            or not {t for t in modes if t not in certain} <= named
            or why not in resolved.lock_notes[0]
        ):
            wrong.append(mismatch(text, resolved, modes))
    return wrong
