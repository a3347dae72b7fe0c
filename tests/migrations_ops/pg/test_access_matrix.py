"""access_matrix tries each cell as the principal; an unprivileged scratch role is handled."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from migrations_ops.pg import access_matrix, pgtools
from migrations_ops.pg.access_matrix import Principal


@pytest.fixture
def names() -> Iterator[dict[str, str]]:
    tag = uuid.uuid4().hex[:8]
    made = {"scratch": f"rp_test_scratch_{tag}", "anon": f"rp_test_anon_{tag}"}
    yield made
    with psycopg.connect(pgtools.scratch_server_url(), autocommit=True) as conn:
        for role in made.values():
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def setup(conn: psycopg.Connection, names: dict[str, str], *, member: bool) -> None:
    scratch, anon = names["scratch"], names["anon"]
    conn.execute(f"CREATE ROLE {scratch} NOLOGIN; CREATE ROLE {anon} NOLOGIN")
    conn.execute(f"""
        create table public.notes (id int primary key, body text);
        insert into public.notes select i, 'n' || i from generate_series(1, 500) i;
        create function public.refuse() returns trigger language plpgsql as $$
        begin raise exception 'notes are read-only'; end $$;
        create trigger refuse before insert on public.notes
          for each row execute function public.refuse();
        grant usage on schema public to {anon}, {scratch};
        grant select, insert on public.notes to {anon}, {scratch};
    """)  # noqa: S608 (test schema)
    if member:
        conn.execute(f"GRANT {anon} TO {scratch}")
    # From here on the session is the unprivileged role's, as with PORTAL_SANDBOX=off.
    conn.execute(f"SET SESSION AUTHORIZATION {scratch}")


def test_an_unprivileged_role_runs_with_triggers_on_and_says_so_in_each_cell(names, database):
    with psycopg.connect(database, autocommit=True) as conn:
        setup(conn, names, member=True)
        assert access_matrix.can_turn_off_triggers(conn) is False
        who = [Principal("anon", "anon", names["anon"], {"role": "anon"})]
        relations = access_matrix.exposed_relations(conn, ["public"])
        matrix = access_matrix.read(conn, who, relations, triggers_off=False)
        rows = conn.execute("select count(*) from public.notes").fetchone()

    cells = matrix["anon"]["public.notes"]
    assert (cells["SELECT"].allowed, cells["SELECT"].rows) == (True, 500)
    assert cells["INSERT"].allowed is None
    assert cells["INSERT"].reason == "notes are read-only [SQLSTATE P0001]"
    assert cells["UPDATE"].reason == "no privilege" and cells["DELETE"].reason == "no privilege"
    assert rows == (500,)


def test_a_role_the_job_cannot_become_leaves_its_cells_unknown(names, database):
    with psycopg.connect(database, autocommit=True) as conn:
        setup(conn, names, member=False)
        who = [Principal("anon", "anon", names["anon"], {"role": "anon"})]
        relations = access_matrix.exposed_relations(conn, ["public"])
        matrix = access_matrix.read(conn, who, relations, triggers_off=False)

    cell = matrix["anon"]["public.notes"]["SELECT"]
    assert cell.allowed is None
    assert cell.reason.startswith(f"the job's role cannot act as {names['anon']}")
