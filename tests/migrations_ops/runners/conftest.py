"""A Supabase project on disk, a "staging" scratch database, and role fixtures.

Roles belong to the whole server, so the role fixture uses names unique to this test
run and drops them at the end; its SQL is idempotent, as every project's must be.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from migrations_ops.pg import pgtools, scratch
from migrations_ops.pg.apply import MigrationFile, apply_files
from migrations_ops.runners.base import RunContext

ROLE_FIXTURE = """
DO $$ BEGIN CREATE ROLE {anon} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN CREATE ROLE {authenticated} NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
CREATE SCHEMA IF NOT EXISTS auth;
CREATE SCHEMA IF NOT EXISTS extensions;
GRANT USAGE ON SCHEMA auth, extensions TO {anon}, {authenticated};
CREATE TABLE IF NOT EXISTS auth.users (id uuid PRIMARY KEY, email text);
CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
  SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::uuid
$$;
"""


@dataclass
class Roles:
    anon: str
    authenticated: str


def _unique_roles() -> Iterator[Roles]:
    tag = uuid.uuid4().hex[:8]
    made = Roles(anon=f"rp_test_anon_{tag}", authenticated=f"rp_test_authenticated_{tag}")
    yield made
    with psycopg.connect(pgtools.scratch_server_url(), autocommit=True) as conn:
        for role in (made.anon, made.authenticated):
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')


@pytest.fixture(scope="session")
def roles() -> Iterator[Roles]:
    yield from _unique_roles()


@pytest.fixture
def new_roles() -> Iterator[Roles]:
    """Roles no database on the server has yet: the first jobs to run create them."""
    yield from _unique_roles()


@dataclass
class Project:
    root: Path
    roles: Roles
    sandbox: Any = None
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    lines: list[tuple[str, str]] = field(default_factory=list)

    @property
    def supabase(self) -> Path:
        return self.root / "supabase"

    def migration(self, version: str, name: str, text: str) -> Path:
        return self.write(f"supabase/migrations/{version}_{name}.sql", text)

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.with_roles(text))
        return path

    def with_roles(self, text: str) -> str:
        return text.replace("{anon}", self.roles.anon).replace(
            "{authenticated}", self.roles.authenticated
        )

    def fixture(self) -> Path:
        return self.write("supabase/fixtures/roles.sql", ROLE_FIXTURE)

    def context(self, database_url: str | None, **options) -> RunContext:
        return RunContext(
            supabase_dir=self.supabase,
            repo_dir=self.root,
            database_url=database_url,
            target_name="staging",
            fixtures=[Path("supabase/fixtures/roles.sql")],
            schemas=["public"],
            options=options,
            log=lambda stream, text: self.lines.append((stream, text)),
            scratch_created=self.created.append,
            scratch_dropped=self.dropped.append,
            sandbox=self.sandbox,
        )

    def apply_to(self, url: str, *versions: str) -> None:
        """Apply these local migrations to ``url`` as the CLI would (staging's past)."""
        files = [
            MigrationFile.from_path(p)
            for p in sorted((self.supabase / "migrations").glob("*.sql"))
            if p.name.split("_", 1)[0] in versions
        ]
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(self.with_roles(ROLE_FIXTURE))
            report = apply_files(conn, files, log=lambda s, t: None)
        assert report.ok, report.first_failure and report.first_failure.describe()

    def leftovers(self) -> list[str]:
        """Scratch databases this project's jobs created that still exist."""
        return sorted(set(self.created) & set(scratch.list_scratch_databases()))


@pytest.fixture
def repo(tmp_path, roles, sandbox) -> Project:
    made = Project(root=tmp_path, roles=roles, sandbox=sandbox)
    sandbox.add_content(tmp_path)
    made.fixture()
    return made


@pytest.fixture
def staging(make_database) -> str:
    return make_database("staging")
