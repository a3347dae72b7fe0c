"""Job ``dry_run``: would the pending migrations apply on staging exactly as they will for real?

Promise: **never changes staging.** Staging is only read, in read-only transactions
(history, version, extensions) and by ``pg_dump``; everything is applied to a scratch
database on the scratch server, which is dropped afterwards whatever happens (success,
failure, cancel).

Steps:

1. Read staging: its server version, its ``supabase_migrations.schema_migrations``
   history and extensions. Pending = local migration files whose version is not in
   the history.
2. Build a scratch database: the project's fixtures (roles, ``auth``...), staging's
   extensions where the scratch server has them, staging's current schema for
   ``ctx.schemas`` via pg_dump (rows too with ``options["with_data"]`` when the tables
   are under ``options["data_max_mb"]``, default 50), and staging's history rows.
3. Apply the pending files there with ``apply.apply_files``, as the Supabase CLI would:
   version order, ``RESET ALL``, one transaction per file with its history row.
4. Report per file (time, ok), the first failure (file, statement, line, SQLSTATE,
   message, environment gap or migration error) and what the migrations change in the
   catalog (tables, columns, functions, policies, tables without RLS).

When staging cannot be read (no URL, down), the scratch database is built from the
local migrations instead: those listed in ``options["applied_versions"]``, or all but
``options["pending_versions"]``, or none; the first note of the report says so. When
the scratch server's major version differs from staging's, a note says that too.

Options: ``with_data``, ``data_max_mb``, ``lock_timeout`` (default "10s"),
``non_transactional`` ("fail", default, or "standalone" as Supabase CLI >= 2.109 runs
them), ``applied_versions``, ``pending_versions``, ``exposed_schemas`` (default
["public"]).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import psycopg

from migrations_ops.pg import catalog, scratch_setup, staging_copy
from migrations_ops.pg.apply import MigrationFile, StatementHook, apply_files
from migrations_ops.pg.apply_report import SUPABASE_SCHEMAS, Kind, object_name
from migrations_ops.runners import target_copy
from migrations_ops.runners.base import RunContext, RunnerError, RunResult
from migrations_ops.runners.pending import statements_digest

# Made by the fixtures (Supabase's own) or by the dry run itself (the history table).
_NOT_COPIED = SUPABASE_SCHEMAS | {"supabase_migrations"}
_UNDEFINED_OBJECT = ("3F000", "42P01", "42704", "42883")

# Given the scratch database's URL and the applying backend's pid, a hook told about
# each pending statement (the risk job's lock recorder).
ObserveFn = Callable[[str, int], AbstractContextManager[StatementHook]]


def run(ctx: RunContext, *, observe: ObserveFn | None = None) -> RunResult:
    """The dry run; ``observe`` watches the pending statements as they are applied."""
    notes: list[str] = []
    local, target, unreadable, baseline, pending = target_copy.pending_files(ctx)
    staging_data: dict[str, Any] = {"read": target is not None, "reason": unreadable}
    if target is not None:
        applied = set(target.applied_versions)
        notes += _history_notes(ctx, target, local, pending)
        changed, not_recorded = applied_differences(ctx, target, local)
        if not_recorded:
            notes.append(
                f"{len(not_recorded)} applied version(s) have no statements recorded in "
                f"{ctx.target_name}'s history (supabase migration repair, or an older CLI), "
                "so their files could not be compared with what ran: " + ", ".join(not_recorded[:5])
            )
        staging_data |= {
            "server_version": target.server_version,
            "applied": len(applied),
            "history_table": target.has_history_table,
            "remote_only": sorted(applied - {m.version for m in local}),
            "changed": changed,
            "not_recorded": not_recorded,
        }
    else:
        notes.insert(
            0,
            f"{ctx.target_name} could not be read ({unreadable}), so this dry run did NOT "
            f"use its schema: the scratch database was built from the {len(baseline)} local "
            "migration(s) assumed applied. It shows whether the pending files apply on top "
            f"of the migrations, not on top of {ctx.target_name} as it is.",
        )
    data: dict[str, Any] = {
        "notes": notes,
        "basis": ctx.target_name if target is not None else "local_migrations",
        "staging": staging_data,
        "pending": [m.filename for m in pending],
    }
    if not pending:
        data["seconds"] = ctx.seconds()
        summary = "no pending migrations: nothing to apply"
        if target is None:
            summary = f"{ctx.target_name} unreadable, built from migrations: {summary}"
        differs = _history_differs(ctx, staging_data)
        if differs:
            summary += f", but the release's files differ from what {differs}"
        # "Nothing to apply" passes only when the files match the target's history exactly.
        return RunResult(ok=not differs, summary=summary, data=data)

    with ctx.scratch_database("dry_run", major=target.major if target is not None else None) as url:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as setup:
            _prepare(ctx, setup, url, target, data)
        # A new session: it starts with the session defaults copied from staging, which
        # is what RESET ALL returns to before each file.
        with (
            psycopg.connect(url, autocommit=True, connect_timeout=10) as conn,
            observe(url, conn.info.backend_pid) if observe else contextlib.nullcontext() as hook,
        ):
            result = _rehearse(ctx, conn, target, baseline, pending, data, hook)
    data["seconds"] = ctx.seconds()
    return result


def applied_differences(
    ctx: RunContext, target: staging_copy.TargetState, local: list[MigrationFile]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Applied files whose text differs from the statements the target recorded when they
    ran (changed since applied: that SQL never ran anywhere), and applied versions whose
    history row recorded no statements (cannot be compared: a warning)."""
    files = {m.version: m for m in local}
    changed: list[dict[str, Any]] = []
    not_recorded: list[str] = []
    for version, _name, statements in target.history:
        mine = files.get(version)
        if mine is None:
            continue
        if not statements:
            not_recorded.append(mine.filename)
            continue
        recorded = statements_digest(list(statements))
        ours = statements_digest([s.text for s in mine.statements])
        if recorded != ours:
            message = (
                f"{mine.filename} changed since it was applied on {ctx.target_name}: its "
                f"statements differ from the {len(statements)} recorded in the history, so "
                "the changed SQL would never run. Restore the applied text and put the "
                "change in a new migration"
            )
            ctx.error(message)
            changed.append(
                {
                    "version": version,
                    "filename": mine.filename,
                    "recorded_statements": len(statements),
                    "file_statements": len(mine.statements),
                    "recorded_sha256": recorded,
                    "file_sha256": ours,
                    "message": message,
                }
            )
    return changed, not_recorded


def _history_differs(ctx: RunContext, staging: dict[str, Any]) -> str:
    """How the release's files differ from the target's history, or ""."""
    parts = []
    changed = staging.get("changed") or []
    if changed:
        names = ", ".join(c["filename"] for c in changed[:5])
        parts.append(f"{len(changed)} applied file(s) changed since applied ({names})")
    remote_only = staging.get("remote_only") or []
    if remote_only:
        parts.append(
            f"{len(remote_only)} applied version(s) have no file in the release "
            f"({', '.join(remote_only[:5])}): the CLI would refuse to push"
        )
    if not parts:
        return ""
    return f"{ctx.target_name} recorded: " + "; ".join(parts)


def copy_schemas(ctx: RunContext, target: staging_copy.TargetState) -> list[str]:
    """The target's schemas the copy holds: ``options["copy_schemas"]`` when given, else
    every schema on the target but PostgreSQL's and Supabase's own (the fixtures make
    those), with the project's schemas; so whatever the pending files touch is there."""
    chosen = ctx.options.get("copy_schemas")
    if chosen:
        wanted = {str(s) for s in chosen}
    else:
        wanted = {s for s in target.all_schemas if s not in _NOT_COPIED} | set(ctx.schemas)
    present = set(target.all_schemas) | set(target.schemas_present)
    return sorted(wanted & present)


def _copy_gap(ctx: RunContext, failure: Any, copied: list[str]) -> None:
    """An object the pending files miss that the target has is a gap in the copy, never
    the migration file's fault: say so, and how to close it."""
    if failure is None or failure.sqlstate not in _UNDEFINED_OBJECT or not ctx.database_url:
        return
    name = object_name(failure.message)
    try:
        with staging_copy.open_target(
            ctx.database_url, ctx.target_name, variable=ctx.url_variable
        ) as conn:
            there = staging_copy.target_has(conn, failure.sqlstate, name)
    except (RunnerError, psycopg.Error):
        return
    if not there:
        return
    failure.kind = Kind.COPY_GAP
    failure.advice = (
        f"{name} exists on {ctx.target_name} but not in the dry run's copy of it (copied "
        f"schemas: {', '.join(copied) or 'none'}); the migration file is not at fault. Add "
        "its schema to the copy (the project's schemas, or the copy_schemas option), or "
        "create it in a fixture, and run the dry run again"
    )


def _history_notes(
    ctx: RunContext,
    target: staging_copy.TargetState,
    local: list[MigrationFile],
    pending: list[MigrationFile],
) -> list[str]:
    notes = []
    applied = target.applied_versions
    remote_only = sorted(set(applied) - {m.version for m in local})
    if remote_only:
        notes.append(
            f"{ctx.target_name}'s history has {len(remote_only)} version(s) with no local "
            f"file ({', '.join(remote_only[:5])}): the CLI refuses to push until they are "
            "fetched or repaired (supabase migration repair)"
        )
    if applied and any(m.version < max(applied) for m in pending):
        notes.append(
            "some pending migrations are older than the newest applied one: the CLI applies "
            "them only with --include-all (as the runbook's command does)"
        )
    return notes


def _prepare(
    ctx: RunContext,
    conn: psycopg.Connection,
    url: str,
    target: staging_copy.TargetState | None,
    data: dict[str, Any],
) -> None:
    """Fixtures, then (when staging was read) its extensions, schema, settings, history."""
    notes: list[str] = data["notes"]
    major = scratch_setup.load_project_fixtures(ctx, url)
    data["scratch"] = {"server_version": conn.info.parameter_status("server_version")}
    if target is None:
        return
    target_copy.note_version(notes, ctx, target, major)
    missing, unset = target_copy.copy_settings(conn, target)
    if missing:
        notes.append(
            f"the scratch server lacks {len(missing)} extension(s) {ctx.target_name} has; "
            "statements using them will fail as environment gaps: " + "; ".join(missing)
        )
    with_data = bool(ctx.options.get("with_data", False))
    max_mb = float(ctx.options.get("data_max_mb", target_copy.DEFAULT_DATA_MAX_MB))
    if with_data and target.data_bytes > max_mb * 1024 * 1024:
        notes.append(
            f"{ctx.target_name}'s tables hold {target.data_bytes / 1048576:.0f} MB, over "
            f"data_max_mb={max_mb:g}: only the schema was copied"
        )
        with_data = False
    absent = [s for s in ctx.schemas if s not in target.schemas_present]
    if absent:
        notes.append(f"{ctx.target_name} has no schema {', '.join(absent)}: nothing to copy there")
    schemas = copy_schemas(ctx, target)
    data["copied_schemas"] = schemas
    if unset:
        notes.append(
            f"some of {ctx.target_name}'s session defaults could not be copied: " + "; ".join(unset)
        )
    if not schemas:
        return
    target_copy.copy_schema(
        ctx,
        url,
        target,
        data,
        schemas=schemas,
        with_data=with_data,
        restoring="its schema",
        advice="add the missing roles or schemas to the fixtures",
    )


def _rehearse(
    ctx: RunContext,
    conn: psycopg.Connection,
    target: staging_copy.TargetState | None,
    baseline: list[MigrationFile],
    pending: list[MigrationFile],
    data: dict[str, Any],
    hook: StatementHook | None = None,
) -> RunResult:
    if target is None:
        built = apply_files(conn, baseline, log=ctx.log, checkpoint=ctx.check_cancelled)
        data["baseline"] = built.as_dict()
        if not built.ok and built.first_failure:
            failure = built.first_failure
            return RunResult(
                ok=False,
                summary=f"could not rebuild the applied migrations: {failure.describe()}",
                data=data,
            )
    ctx.check_cancelled()
    before = catalog.snapshot(conn, schemas=ctx.schemas)
    report = ctx.apply_pending(conn, pending, statement_hook=hook)
    if target is not None:
        _copy_gap(ctx, report.first_failure, data.get("copied_schemas", []))
    after = catalog.snapshot(conn, schemas=ctx.schemas)
    changes = catalog.diff(before, after)
    exposed = list(ctx.options.get("exposed_schemas", ["public"]))
    without_rls = after.tables_without_rls(exposed)
    first = report.first_failure
    data |= {
        "apply": report.as_dict(),
        "first_failure": first.as_dict() if first else None,
        "catalog_changes": changes.as_dict(),
        "catalog_summary": changes.lines(),
        "tables_without_rls": without_rls,
        "new_tables_without_rls": [t for t in without_rls if t in changes["tables"].added],
    }
    seconds = sum(f.seconds for f in report.files)
    basis = "a copy of " + ctx.target_name if target is not None else "the local migrations"
    if first is not None:
        summary = f"dry run failed on {basis}: {first.describe()}"
    else:
        took = f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"
        summary = f"{len(pending)} pending migration(s) apply cleanly on {basis} ({took})"
    if target is None:
        summary = f"{ctx.target_name} unreadable, built from migrations: {summary}"
    differs = _history_differs(ctx, data["staging"])
    if differs:
        summary += f"; but the release's files differ from what {differs}"
    return RunResult(ok=report.ok and not differs, summary=summary, data=data)
