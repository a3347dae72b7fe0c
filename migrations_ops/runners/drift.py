"""Job ``drift``: the runbook's "no unexpected drift" check on staging.

Promise: **never changes staging.** Staging is read in read-only transactions.

Builds a scratch database from the migrations staging's own history says are applied
(project fixtures first, then staging's extensions where the scratch server has them,
then those files, the Supabase CLI way), reads both schemas for ``ctx.schemas`` with
``catalog.snapshot`` and compares them, ignoring noise (owners, grants, OIDs, column
and catalog order). Reports:

- objects only in staging: made by hand (dashboard, SQL editor), never in a migration;
- objects only in the migrations: applied, then dropped or changed by hand;
- objects in both whose definitions differ.

Versions in the history with no local file cannot be rebuilt; they are listed, and the
check is then not conclusive. The scratch database is always dropped.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg

from migrations_ops.pg import catalog, scratch_setup, staging_copy
from migrations_ops.pg.apply import MigrationFile, apply_files
from migrations_ops.runners import target_copy
from migrations_ops.runners.base import RunContext, RunResult


def run(ctx: RunContext) -> RunResult:
    local = scratch_setup.local_migrations(ctx.supabase_dir)
    with staging_copy.open_target(
        ctx.database_url, ctx.target_name, variable=ctx.url_variable
    ) as staging:
        target = staging_copy.read_target(staging, schemas=ctx.schemas)
        actual = catalog.snapshot(staging, schemas=ctx.schemas)
    applied = set(target.applied_versions)
    rebuild = [m for m in local if m.version in applied]
    remote_only = sorted(applied - {m.version for m in local})
    notes: list[str] = []
    if remote_only:
        notes.append(
            f"{len(remote_only)} version(s) in {ctx.target_name}'s history have no local file "
            f"({', '.join(remote_only[:5])}): they could not be rebuilt, so what they created "
            "shows up as drift"
        )
    with ctx.scratch_database("drift", major=target.major) as url:
        major = scratch_setup.load_project_fixtures(ctx, url)
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as setup:
            _prepare(ctx, setup, target, rebuild, major, notes)
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            data = _rebuild_and_compare(ctx, conn, rebuild, actual)
    data |= {
        "notes": notes,
        "applied": len(applied),
        "remote_only": remote_only,
        "seconds": ctx.seconds(),
    }
    counts = {k: sum(len(v) for v in data[k].values()) for k in
              ("only_in_staging", "only_in_migrations", "changed")}  # fmt: skip
    rebuilt_ok = data["rebuild"]["ok"]
    ok = rebuilt_ok and not remote_only and not any(counts.values())
    if ok:
        summary = f"no unexpected drift on {ctx.target_name} ({len(rebuild)} migrations rebuilt)"
    elif not rebuilt_ok:
        failure = data["rebuild"]["first_failure"]
        summary = f"could not rebuild {ctx.target_name} from its migrations: " + (
            failure["description"] if failure else "see the per-file results"
        )
    else:
        summary = (
            f"{ctx.target_name} drifted from its migrations: {counts['only_in_staging']} "
            f"object(s) only in {ctx.target_name}, {counts['only_in_migrations']} only in the "
            f"migrations, {counts['changed']} changed"
        )
    return RunResult(ok=ok, summary=summary, data=data)


def _prepare(
    ctx: RunContext,
    conn: psycopg.Connection,
    target: staging_copy.TargetState,
    rebuild: list[MigrationFile],
    major: int,
    notes: list[str],
) -> None:
    """What staging has that no migration made: platform extensions, session defaults."""
    target_copy.note_version(notes, ctx, target, major)
    # Extensions the platform provides, not the ones a migration creates (creating those
    # first would make that migration fail here when it did not on staging).
    provided = [(n, s) for n, s in target.extensions if not _created_by(rebuild, n)]
    missing = scratch_setup.create_extensions(conn, provided)
    if missing:
        notes.append("the scratch server lacks extension(s) staging has: " + "; ".join(missing))
    unset = staging_copy.copy_session_defaults(conn, target.settings)
    if unset:
        notes.append("some of staging's session defaults could not be copied: " + "; ".join(unset))


def _rebuild_and_compare(
    ctx: RunContext,
    conn: psycopg.Connection,
    rebuild: list[MigrationFile],
    actual: catalog.Snapshot,
) -> dict[str, Any]:
    ctx.check_cancelled()
    report = apply_files(
        conn, rebuild, log=ctx.log, stop_on_error=False, checkpoint=ctx.check_cancelled
    )
    expected = catalog.snapshot(conn, schemas=ctx.schemas)
    changes = catalog.diff(expected, actual)
    return {
        "rebuild": report.as_dict(),
        "only_in_staging": {k: d.added for k, d in changes.categories.items() if d.added},
        "only_in_migrations": {k: d.removed for k, d in changes.categories.items() if d.removed},
        "changed": {k: d.changed for k, d in changes.categories.items() if d.changed},
        "summary_lines": changes.lines(),
    }


def _created_by(files: list[MigrationFile], extension: str) -> bool:
    pattern = re.compile(
        r"create\s+extension\s+(?:if\s+not\s+exists\s+)?\"?" + re.escape(extension) + r"\b",
        re.IGNORECASE,
    )
    return any(pattern.search(m.text) for m in files)
