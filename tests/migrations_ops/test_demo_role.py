"""The demo's targets reach their databases as a demo role that can do no more.

The demo setup (what `make run`'s demo_load does) runs against the test server, with a
role and databases named for this test (roles belong to the whole server, which other
checkouts share), and the test database standing in for the portal's.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from psycopg import sql

from migrations_ops import demo
from migrations_ops.pg import pgtools
from migrations_ops.runners import apply, backup, dry_run, restore_check
from migrations_ops.runners.base import RunContext
from migrations_ops.target_rule import target_variable_refusal
from release_portal.settings import env_target_vars

POWERFUL = [
    "pg_execute_server_program",
    "pg_read_server_files",
    "pg_write_server_files",
    "pg_read_all_data",
]


@dataclass
class DemoWorld:
    role: str
    password: str
    staging: str
    production: str
    log: list[str]

    def url(self, database: str) -> str:
        return demo.demo_target_url(database, role=self.role, password=self.password)


def as_portal() -> psycopg.Connection:
    return psycopg.connect(pgtools.portal_server_url("postgres"), autocommit=True)


@pytest.fixture
def world(db):
    tag = uuid.uuid4().hex[:8]
    made = DemoWorld(
        role=f"rp_demo_test_{tag}",
        password=f"demo-pw-{tag}",
        staging=f"rp_demo_test_{tag}_staging",
        production=f"rp_demo_test_{tag}_production",
        log=[],
    )
    portal_database = connection.settings_dict["NAME"]
    try:
        demo.demo_targets_prepare(
            [made.staging, made.production],
            role=made.role,
            password=made.password,
            log=made.log.append,
        )
        yield made
    finally:
        with as_portal() as conn:
            for database in (made.staging, made.production):
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(database)
                    )
                )
            conn.execute(
                sql.SQL("GRANT CONNECT ON DATABASE {} TO PUBLIC").format(
                    sql.Identifier(portal_database)
                )
            )
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(made.role)))


def role_row(role: str) -> tuple[bool, bool, bool, list[str]]:
    with as_portal() as conn:
        row = conn.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = %s",
            [role],
        ).fetchone()
        assert row is not None
        member_of = [
            powerful
            for powerful in POWERFUL
            if conn.execute(
                "SELECT 1 WHERE pg_has_role(%s, %s, 'MEMBER')", [role, powerful]
            ).fetchone()
        ]
    return row[0], row[1], row[2], member_of


def test_the_demo_role_cannot_reach_the_portals_database(world):
    portal_url = pgtools.with_database(world.url(world.staging), connection.settings_dict["NAME"])
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        psycopg.connect(portal_url, connect_timeout=10).close()
    # ...while the portal's own connections keep working, and the demo databases answer.
    with psycopg.connect(world.url(world.staging)) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (world.role,)


def test_the_demo_role_holds_no_power_on_the_server(world):
    assert role_row(world.role) == (False, False, False, [])


def test_setting_up_again_takes_back_any_power_it_was_given(world):
    with as_portal() as conn:
        role = sql.Identifier(world.role)
        conn.execute(sql.SQL("ALTER ROLE {} SUPERUSER CREATEROLE").format(role))
        conn.execute(sql.SQL("GRANT pg_read_server_files, pg_read_all_data TO {}").format(role))
    assert role_row(world.role) != (False, False, False, [])

    demo.demo_role_ensure(role=world.role, password=world.password)

    assert role_row(world.role) == (False, False, False, [])


def test_the_demo_jobs_work_as_the_demo_role(world, tmp_path, sandbox):
    """Backups (pg_dump), dry runs reading staging, and applying to production."""
    backed_up = backup.run(
        RunContext(
            database_url=world.url(world.production),
            target_name="production",
            schemas=["app", "public"],
            supabase_dir=demo.DEMO_SUPABASE,
            options={"out_dir": str(tmp_path / "backups")},
        )
    )
    assert backed_up.ok, backed_up.summary

    repo = tmp_path / "repo"
    shutil.copytree(demo.DEMO_SUPABASE, repo / "supabase")
    sandbox.add_content(repo)
    tried = dry_run.run(
        RunContext(
            repo_dir=repo,
            supabase_dir=repo / "supabase",
            database_url=world.url(world.staging),
            target_name="staging",
            fixtures=[Path("supabase/tests/fixtures/roles.sql")],
            schemas=["app", "public"],
            sandbox=sandbox,
        )
    )
    assert tried.ok, tried.summary
    assert tried.data["staging"]["read"] is True  # read as the demo role, not guessed

    # The backup restores in the sandbox's server, which has no demo role: `make run`'s
    # SRE story (Capture backup, then its restore check) on the demo's own targets.
    assert world.role in backed_up.data["roles"]
    verified = restore_check.run(
        RunContext(
            repo_dir=repo,
            fixtures=[Path("supabase/tests/fixtures/roles.sql")],
            options={"manifest": backed_up.data["manifest_path"]},
            sandbox=sandbox,
        )
    )
    assert verified.ok, verified.summary
    assert f"needs role(s) {world.role}, made for it here" in verified.summary

    applied = apply.run(
        RunContext(
            supabase_dir=demo.DEMO_SUPABASE,
            database_url=world.url(world.production),
            target_name="production",
            options={
                "target_kind": "production",
                "gate_checked": True,
                "approved_digest": "d" * 64,
                "release_digest": "d" * 64,
            },
        )
    )
    assert applied.ok, applied.summary
    with psycopg.connect(world.url(world.production)) as conn:
        versions = conn.execute(
            "SELECT version FROM supabase_migrations.schema_migrations ORDER BY version"
        ).fetchall()
    assert [v for (v,) in versions][-1] == "20250201090000"


def test_make_run_allows_the_demo_targets_their_two_variables(settings, monkeypatch):
    assert demo.with_demo_target_vars("") == demo.DEMO_TARGET_VARS
    monkeypatch.setenv("PORTAL_TARGET_VARS", demo.DEMO_TARGET_VARS)
    settings.PORTAL_TARGET_VARS = env_target_vars("PORTAL_TARGET_VARS")
    for variable in demo.DEMO_TARGET_DATABASES:
        refusal = target_variable_refusal(
            project_slug=demo.DEMO_PROJECT_SLUG, name=variable, used_by_other_project=lambda: True
        )
        assert refusal is None
    # An operator's own list is kept, with the demo's added.
    settings.PORTAL_TARGET_VARS = {"shop": ["SHOP_*"]}
    assert demo.with_demo_target_vars("shop:SHOP_*") == f"shop:SHOP_*;{demo.DEMO_TARGET_VARS}"


def test_the_demo_targets_url_names_the_demo_role_not_the_portals_user():
    url = demo.demo_target_url("demo_staging", role="release_portal_demo", password="p@ss")
    assert url.startswith("postgresql://release_portal_demo:p%40ss@")
    assert "/demo_staging" in url
