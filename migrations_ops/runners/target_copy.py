"""The target as the database jobs copy it into a scratch database (not a job kind).

dry_run, access and risk read the target and choose the pending files by the same rules,
so all three look at the same files; dry_run and access copy its schema the same way;
dry_run and drift warn the same way when the scratch server is another major version.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import psycopg

from migrations_ops.pg import scratch_setup, staging_copy
from migrations_ops.pg.apply import MigrationFile
from migrations_ops.runners.base import RunContext, RunnerError

DEFAULT_DATA_MAX_MB = 50


def read_target(ctx: RunContext) -> tuple[staging_copy.TargetState | None, str | None]:
    """The target's state, or None and why it could not be read."""
    try:
        with staging_copy.open_target(
            ctx.database_url, ctx.target_name, variable=ctx.url_variable
        ) as conn:
            return staging_copy.read_target(conn, schemas=ctx.schemas), None
    except RunnerError as e:
        return None, str(e)
    except psycopg.Error as e:
        return None, f"reading {ctx.target_name} failed: {str(e).strip().splitlines()[0]}"


def assumed_applied(ctx: RunContext, local: list[MigrationFile]) -> set[str]:
    """The versions taken as applied when the target cannot be read: ``applied_versions``,
    or all but ``pending_versions``, or none."""
    applied = ctx.options.get("applied_versions")
    if applied is not None:
        return {str(v) for v in applied}
    pending = ctx.options.get("pending_versions")
    if pending is not None:
        return {m.version for m in local} - {str(v) for v in pending}
    return set()


def baseline_and_pending(
    ctx: RunContext, local: list[MigrationFile], target: staging_copy.TargetState | None
) -> tuple[list[MigrationFile], list[MigrationFile]]:
    """The local files the copy is built from and those pending on top of it.

    When the target was read, its schema stands for the applied files (no baseline) and
    the files missing from its history are pending; else the baseline is the files
    ``assumed_applied`` and the others are pending.
    """
    if target is not None:
        applied = set(target.applied_versions)
        return [], [m for m in local if m.version not in applied]
    assumed = assumed_applied(ctx, local)
    baseline = [m for m in local if m.version in assumed]
    return baseline, [m for m in local if m.version not in assumed]


class PendingFiles(NamedTuple):
    """What dry_run, access and risk start from (``pending_files``)."""

    local: list[MigrationFile]  # the project's migrations, in the CLI's order
    target: staging_copy.TargetState | None  # None: it could not be read
    unreadable: str | None  # why it could not be read
    baseline: list[MigrationFile]  # what the copy is built from without the target
    pending: list[MigrationFile]


def pending_files(ctx: RunContext) -> PendingFiles:
    """The local migrations, the target (``read_target``) and the files pending on it
    (``baseline_and_pending``): the one reading of them the three jobs share."""
    local = scratch_setup.local_migrations(ctx.supabase_dir)
    target, unreadable = read_target(ctx)
    baseline, pending = baseline_and_pending(ctx, local, target)
    return PendingFiles(local, target, unreadable, baseline, pending)


def note_version(
    notes: list[str], ctx: RunContext, target: staging_copy.TargetState, major: int
) -> None:
    """Put first in ``notes`` a warning when the scratch server (``major``) does not run
    the target's major version."""
    note = scratch_setup.version_note(
        target_name=ctx.target_name,
        target_version=target.server_version,
        target_major=target.major,
        major=major,
    )
    if note:
        notes.insert(0, note)


def copy_settings(
    conn: psycopg.Connection, target: staging_copy.TargetState
) -> tuple[list[str], list[str]]:
    """The target's extensions (those the scratch server has), migration history and
    session defaults, into the scratch database on ``conn``. Returns the extensions the
    scratch server lacks and the session defaults that could not be set."""
    missing = scratch_setup.create_extensions(conn, target.extensions)
    staging_copy.copy_history(conn, target.history)
    unset = staging_copy.copy_session_defaults(conn, target.settings)
    return missing, unset


def copy_schema(
    ctx: RunContext,
    url: str,
    target: staging_copy.TargetState,
    data: dict[str, Any],
    *,
    schemas: list[str],
    with_data: bool,
    privileges: bool = False,
    restoring: str,
    advice: str,
) -> None:
    """Copy ``schemas`` of the target into the scratch database at ``url`` (in the
    sandbox); ``data["copy"]`` says how, and a note says what failed to restore
    (``restoring`` it, then what to do: ``advice``)."""
    copy = staging_copy.copy_schema(
        source_url=ctx.database_url or "",
        source_major=target.major,
        target_url=url,
        schemas=schemas,
        with_data=with_data,
        privileges=privileges,
        log=ctx.log,
        sandbox=ctx.require_sandbox(),
    )
    data["copy"] = copy.as_dict()
    if copy.errors:
        data["notes"].append(
            f"the copy of {ctx.target_name} is incomplete: {len(copy.errors)} error(s) while "
            f"restoring {restoring} (first: {copy.errors[0]}); {advice}"
        )
