"""Job ``access``: who can read and write what, before and after the pending migrations.

Promise: **never changes the target**, and never fails a release by itself (``ok`` is
False only when the job could not run). The target is read (its schema, privileges
and rows) and copied into a scratch database, dropped afterwards whatever happens; the
matrix is tried there, as each principal, with every write rolled back
(``pg.access_matrix``).

Steps:

1. Read the target as the dry run does (history, extensions, session defaults); pending
   = local files not in its history. When it cannot be read, the copy is built from
   the local migrations assumed applied (``applied_versions`` / ``pending_versions``),
   without rows, and the first note says so.
2. Scratch database: the project's fixtures, then the target's schema **with its
   privileges** (GRANTs decide the matrix as much as policies do) and rows: all of
   them up to ``data_max_mb`` (default 50), else a sample of the same fraction of every
   table (``pg.row_sample``), said so per table. Rows are never copied from a target
   whose ``target_kind`` is production. Then the seed files.
3. The matrix for every table and view in ``exposed_schemas`` (default ["public"]), as
   ``anon``, ``authenticated`` as each test user (``users`` option, else the rows of
   ``auth.users`` the fixtures and seeds made), and ``service_role`` (role names from
   the ``roles`` option); Supabase's lints (``pg.supabase_lints``).
4. The pending files applied as the CLI would (``apply.apply_files``); the matrix and the
   lints again; the cells that changed, one line each ("anon SELECT public.accounts:
   0 -> 50,000 rows"), and the lints the release adds or fixes.

Options: ``exposed_schemas``, ``roles``, ``users``, ``max_users`` (10), ``with_data`` (true),
``data_max_mb``, ``cell_timeout`` ("10s"), ``seed_files``, ``lock_timeout``, ``non_transactional``,
``applied_versions``, ``pending_versions``, ``target_kind``.
"""

from __future__ import annotations

from typing import Any

import psycopg

from migrations_ops.pg import (
    access_matrix,
    row_sample,
    scratch_setup,
    staging_copy,
    supabase_lints,
)
from migrations_ops.pg.apply import MigrationFile, apply_files
from migrations_ops.runners import target_copy
from migrations_ops.runners.base import RunContext, RunResult


def run(ctx: RunContext) -> RunResult:
    # The dry run's rules for reading the target and for what counts as applied without
    # it, so both jobs pick the same pending files.
    _local, target, unreadable, baseline, pending = target_copy.pending_files(ctx)
    notes: list[str] = []
    if target is None:
        notes.append(
            f"{ctx.target_name} could not be read ({unreadable}): the copy was built from the "
            f"{len(baseline)} local migration(s) assumed applied, without rows, so row counts "
            "come from the fixtures and seeds only"
        )
    exposed = list(ctx.options.get("exposed_schemas", ["public"]))
    data: dict[str, Any] = {
        "notes": notes,
        "pending": [m.filename for m in pending],
        "exposed_schemas": exposed,
    }
    with ctx.scratch_database("access", major=target.major if target is not None else None) as url:
        major = scratch_setup.load_project_fixtures(ctx, url)
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            if target is not None:
                _copy_target(ctx, conn, url, target, data)
            else:
                built = apply_files(conn, baseline, log=ctx.log, checkpoint=ctx.check_cancelled)
                if not built.ok and built.first_failure:
                    notes.append(
                        "the applied migrations could not be rebuilt: "
                        + built.first_failure.describe()
                    )
        notes += scratch_setup.load_seeds(ctx, url, major)
        ctx.check_cancelled()
        # A new session: the target's session defaults apply, as they will for clients.
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            _before_and_after(ctx, conn, pending, exposed, data)
    data["seconds"] = ctx.seconds()
    return RunResult(ok=True, summary=_summary(data, len(pending)), data=data)


def _copy_target(
    ctx: RunContext,
    conn: psycopg.Connection,
    url: str,
    target: staging_copy.TargetState,
    data: dict[str, Any],
) -> None:
    notes: list[str] = data["notes"]
    missing, _unset = target_copy.copy_settings(conn, target)
    if missing:
        notes.append("the scratch server lacks extension(s): " + "; ".join(missing))
    if not target.schemas_present:
        return
    max_bytes = int(
        float(ctx.options.get("data_max_mb", target_copy.DEFAULT_DATA_MAX_MB)) * 1024 * 1024
    )
    production = ctx.options.get("target_kind") == "production"
    # As a job, the project's "dry run with data" decides (bundle code runs beside the
    # rows and may print them); from the command line, rows are copied.
    with_rows = bool(ctx.options.get("with_data", True))
    fits = target.data_bytes <= max_bytes and not production and with_rows
    target_copy.copy_schema(
        ctx,
        url,
        target,
        data,
        schemas=target.schemas_present,
        with_data=fits,
        privileges=True,
        restoring="it",
        advice="grants to roles the fixtures do not create are missing from the matrix",
    )
    if production:
        notes.append(
            f"{ctx.target_name} is production: its rows are never copied; counts come from "
            "the fixtures and seeds"
        )
        return
    if not with_rows:
        data["rows"] = {"copied": "none", "bytes": target.data_bytes}
        notes.append(
            f"the project's “dry run with data” is off: {ctx.target_name}'s rows were not "
            "copied (bundle code runs beside them), so row counts come from the fixtures and "
            "seeds"
        )
        return
    if fits:
        data["rows"] = {"copied": "all", "bytes": target.data_bytes}
        return
    ctx.info(
        f"Sampling {ctx.target_name}'s rows: {target.data_bytes / 1048576:.0f} MB is over the limit"
    )
    with ctx.connect() as source:
        sampled = row_sample.copy_sample(
            source, conn, schemas=target.schemas_present, max_bytes=max_bytes
        )
    percent = sampled[0].percent if sampled else 0
    data["rows"] = {
        "copied": "sample",
        "bytes": target.data_bytes,
        "sample_percent": percent,
        "tables": [s.as_dict() for s in sampled],
    }
    notes.append(
        f"{ctx.target_name}'s tables hold {target.data_bytes / 1048576:,.0f} MB, over "
        f"data_max_mb: a {percent:.3g}% sample of every table was copied, so row counts in "
        "the matrix are for the sample (multiply by about "
        f"{100 / percent if percent else 0:,.0f} for the whole table)"
    )


def _before_and_after(
    ctx: RunContext,
    conn: psycopg.Connection,
    pending: list[MigrationFile],
    exposed: list[str],
    data: dict[str, Any],
) -> None:
    notes: list[str] = data["notes"]
    timeout = str(ctx.options.get("cell_timeout", "10s"))
    who, found = access_matrix.principals(
        conn,
        roles=access_matrix.default_roles(ctx.options),
        users=ctx.options.get("users"),
        max_users=int(ctx.options.get("max_users", 10)),
    )
    notes += found
    labels = {p.key: p.label for p in who}
    project_schemas = list(dict.fromkeys([*ctx.schemas, *exposed]))
    triggers_off = access_matrix.can_turn_off_triggers(conn)

    ctx.info(f"Trying {len(who)} principal(s) on the tables before the migrations...")
    relations = access_matrix.exposed_relations(conn, exposed)
    before = access_matrix.read(
        conn, who, relations, cell_timeout=timeout, triggers_off=triggers_off
    )
    lints_before = supabase_lints.read(conn, exposed=exposed, schemas=project_schemas)
    ctx.check_cancelled()

    report = ctx.apply_pending(conn, pending)
    if report.first_failure is not None:
        notes.append(
            f"the pending migrations stopped at {report.first_failure.describe()}: the "
            "'after' matrix shows the files before it applied"
        )
    ctx.info("Trying them again after the migrations...")
    relations_after = access_matrix.exposed_relations(conn, exposed)
    after = access_matrix.read(
        conn, who, relations_after, cell_timeout=timeout, triggers_off=triggers_off
    )
    lints_after = supabase_lints.read(conn, exposed=exposed, schemas=project_schemas)
    changes = access_matrix.diff(before, after, labels)
    data |= {
        "principals": [p.as_dict() for p in who],
        "relations": sorted({r.name for r in relations} | {r.name for r in relations_after}),
        "before": access_matrix.as_dict(before),
        "after": access_matrix.as_dict(after),
        "changes": [c.as_dict() for c in changes],
        "change_lines": [c.line() for c in changes],
        "lints": {
            "before": [lint.as_dict() for lint in lints_before],
            "after": [lint.as_dict() for lint in lints_after],
            **supabase_lints.compare(lints_before, lints_after),
        },
        "apply": report.as_dict(),
        "method": "each cell was tried for real as the principal, in a transaction rolled "
        "back; "
        + (
            "triggers and foreign keys were off (session_replication_role = replica), so "
            "a trigger that refuses writes is not reflected"
            if triggers_off
            else "triggers and foreign keys were on (the scratch role may not turn them "
            "off): a refusal by a trigger or a foreign key shows as a refusal"
        ),
    }


def _summary(data: dict[str, Any], pending: int) -> str:
    if not pending:
        return "no pending migrations: access unchanged"
    lines = data.get("change_lines", [])
    new_lints = data.get("lints", {}).get("new", [])
    text = f"{len(lines)} access change(s) after {pending} pending file(s)"
    if lines:
        text += f" (first: {lines[0]})"
    if new_lints:
        text += f"; {len(new_lints)} new Supabase lint warning(s)"
    return text
