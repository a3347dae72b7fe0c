"""What a scratch database gets before a production backup is restored into it.

Shared by the restore check and the rollback rehearsal, the two jobs that put a backup
*of production* in a sandbox. Rule: **nothing of the release's bundle runs in a database
that holds a production backup's rows** before the runbook needs it to. The project's
fixtures are bundle content (anyone with an upload role or a CI token writes them) and
run as the sandbox cluster's superuser: loaded there, even before the restore, they could
leave an event trigger on the restore's statements or start a process that reads the
rows, and print them into the job's log and result, which every member of the project
reads. What the fixtures give a dry run, the portal makes here from its own SQL:

- the roles the dump names (recorded in its manifest) and Supabase's API roles, NOLOGIN
  (no dump carries roles: the server a backup is restored into needs them too);
- Supabase's ``auth`` and ``extensions`` schemas (``pg.supabase_baseline``) when the
  backup leaves them out.

The rehearsal then runs the release's migrations and the plan's down scripts over the
restored rows: what it exists to prove. ``Setup.as_dict`` says what ran and what did not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from migrations_ops.pg import supabase_baseline
from migrations_ops.pg.backup_manifest import ManifestFile
from migrations_ops.runners.base import RunContext

ROLE_HINT = (
    "the backup's manifest does not name that role (a manifest written before roles were "
    "recorded): take a new backup, whose manifest records every role the dump needs"
)

MISSING_HINT = (
    "the backup names something it does not carry, and the release's fixtures are never "
    "run beside its rows (only the roles and Supabase's auth and extensions schemas are "
    "made for it): add that schema to the project's backed-up schemas and take a new backup"
)


@dataclass
class Setup:
    roles_made: list[str] = field(default_factory=list)
    baseline: list[str] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "roles_made": list(self.roles_made),
            "baseline": list(self.baseline),
            "ran": list(self.ran),
            "not_run": list(self.not_run),
        }


def _shown(path: Path, root: Path | None) -> str:
    """A fixture's path as the bundle names it, never the worker's folder."""
    if root is not None:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            pass
    return path.name


def prepare(ctx: RunContext, url: str, manifest: ManifestFile) -> Setup:
    """Roles and Supabase's baseline in the scratch database ``url``, before the restore."""
    setup = Setup()
    setup.roles_made = make_missing_roles(ctx, url, manifest)
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        setup.baseline = supabase_baseline.make(conn, backed_up=manifest.schemas)
    if setup.baseline:
        ctx.info(
            "made Supabase's baseline, which the backup leaves out: " + "; ".join(setup.baseline)
        )
        setup.ran.append("the portal's Supabase baseline: " + "; ".join(setup.baseline))
    if setup.roles_made:
        setup.ran.append(f"role(s) made NOLOGIN: {', '.join(setup.roles_made)}")
    setup.ran.append(
        f"the restore of {manifest.file} (its own functions, triggers and indexes ran, "
        "in the sandbox)"
    )
    if ctx.fixtures:
        names = ", ".join(_shown(f, ctx.repo_dir) for f in ctx.fixtures)
        said = (
            f"the release's fixtures ({names}): bundle content never runs in a database "
            "that holds a production backup's rows; the portal made the roles and "
            "Supabase's baseline instead"
        )
        setup.not_run.append(said)
        ctx.info(f"not run: {said}")
    return setup


def named_roles(manifest: ManifestFile) -> set[str]:
    """The roles the dump and its recorded settings name."""
    return set(manifest.roles) | {
        s.role for s in manifest.settings if s.role and s.scoped_to_database
    }


def make_missing_roles(ctx: RunContext, url: str, manifest: ManifestFile) -> list[str]:
    """Make, NOLOGIN, the roles the dump names and Supabase's API roles that the scratch
    server lacks (roles are server-wide: no dump carries them, and a restore stops at the
    first OWNER TO or GRANT naming one). Returns the roles made."""
    wanted = named_roles(manifest) | set(supabase_baseline.ROLES)
    # pg_* names are the server's own (pg_database_owner...): never made by anyone.
    names = sorted(r for r in wanted if not r.startswith("pg_"))
    made = []
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        present = {
            r for (r,) in conn.execute(
                "SELECT rolname FROM pg_catalog.pg_roles WHERE rolname = ANY(%s)", [names]
            )
        }  # fmt: skip
        for role in names:
            if role in present:
                continue
            try:
                conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
            except (psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
                continue  # made a moment ago by another job on the same server
            except psycopg.errors.InsufficientPrivilege:
                # A scratch server of the operator's (PORTAL_SANDBOX=off) without CREATEROLE:
                # the restore then names the first role it lacks.
                rest = [r for r in names[names.index(role) :] if r not in present]
                ctx.error(
                    f"cannot make role(s) {', '.join(rest)} in the scratch server (its role "
                    "may not create roles): create them there in advance, NOLOGIN"
                )
                break
            made.append(role)
    if made:
        ctx.info(
            f"made role(s) {', '.join(made)} (NOLOGIN) in the scratch server: the dump names "
            "them (owners, grants, policies), and roles belong to a server, not to a dump"
        )
    return made
