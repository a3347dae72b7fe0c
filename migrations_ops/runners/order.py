"""Runbook §3: "Confirm supabase/migrations order is chronological and filenames use UTC
timestamps."

Reads ``<supabase_dir>/migrations`` with the Supabase CLI's own rules
(migrations_ops.pg.supabase_files) and, when ``ctx.database_url`` is given, the target's
``supabase_migrations.schema_migrations``. Never writes anywhere; works without a database.

The check **fails** on what breaks a deploy or can still be fixed cheaply:

- ``duplicate_version``: two files share a version (the CLI's second history insert fails);
- ``remote_only``: versions in the target's history with no local file (drift; the CLI
  refuses to run until the files are back or the history is repaired);
- ``pending_older_than_newest_applied``: not applied yet but older than the newest applied
  version; ``supabase migration up`` refuses it without ``--include-all``. With
  ``ctx.options["include_all"] = true`` (the runbook's staging dry run passes the flag) it
  is a warning instead;
- a *pending* file (known only with a target) whose version is all zeros, not 14 digits or
  not a real date: nothing recorded it yet, so rename it now.

It **passes with warnings** for what the CLI tolerates: skipped ``.sql`` files, the old
``_init.sql`` baseline and folders; odd-length, all-zero, impossible or future versions
(all of them without a target, the already-applied ones with a target, since renaming those
would need ``supabase migration repair``); timestamps that go backwards in the CLI's order;
name order differing from version order. Other skipped files (README.md, .gitkeep) are only
listed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from migrations_ops.pg import supabase_files as sf
from migrations_ops.runners.base import RunContext, RunnerError, RunResult

# Version findings that block a release when the file is not applied anywhere yet.
_RENAMEABLE = {"all_zero", "not_14_digits", "impossible_date"}


def load_local_migrations(
    ctx: RunContext,
) -> tuple[Path, list[sf.LocalMigration], list[sf.SkippedFile]]:
    """The project's migrations folder, its files in CLI order, and what the CLI skips."""
    if ctx.supabase_dir is None:
        raise RunnerError(
            "no supabase folder given: pass --supabase-dir (or set the project's migrations "
            "source) to the folder that holds migrations/"
        )
    folder = Path(ctx.supabase_dir) / "migrations"
    try:
        files, skipped = sf.list_local_migrations(folder)
    except sf.MigrationsFolderMissing:
        raise RunnerError(
            f"no migrations folder at {folder}: the Supabase CLI reads supabase/migrations; "
            "check the supabase folder path (and that the checkout has the release's commit)"
        ) from None
    except OSError as e:
        raise RunnerError(f"could not read {folder}: {e.strerror or e}") from None
    return folder, files, skipped


def load_target_history(ctx: RunContext) -> list[sf.RemoteMigration]:
    """The target's history; fails within 10 s naming the target when it cannot be reached."""
    with ctx.connect() as conn:
        try:
            return sf.read_remote_history(conn)
        except psycopg.Error as e:
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise RunnerError(
                f"could not read {sf.HISTORY_TABLE} on {ctx.target_name}: {reason}; grant the "
                "portal's database user SELECT on it (and USAGE on its schema)"
            ) from None


def _skipped_warning(skipped: sf.SkippedFile) -> sf.VersionFinding | None:
    if skipped.code == sf.SKIP_PATTERN and not skipped.filename.lower().endswith(".sql"):
        return None  # README.md, .gitkeep: expected in the folder, listed only
    message = f"{skipped.filename}: {skipped.reason}"
    if skipped.code == sf.SKIP_PATTERN:
        message += "; it will never be applied (name it <YYYYMMDDHHMMSS>_name.sql)"
    return sf.VersionFinding(f"skipped_{skipped.code}", (skipped.filename,), "", message)


def _history_data(
    ctx: RunContext, comparison: sf.HistoryComparison, include_all: bool
) -> dict[str, Any]:
    return {
        "target": ctx.target_name,
        "applied": [f.filename for f, _ in comparison.applied],
        "pending": [f.filename for f in comparison.pending],
        "pending_older_than_newest_applied": [
            f.filename for f in comparison.pending_older_than_newest_applied
        ],
        "remote_only": [r.as_dict() for r in comparison.remote_only],
        "newest_applied": comparison.newest_applied,
        "include_all": include_all,
        "cli_refusal": comparison.cli_refusal(include_all=include_all),
        "cli_would_apply": [
            f.filename for f in comparison.cli_would_apply(include_all=include_all)
        ],
    }


def _history_findings(
    ctx: RunContext, comparison: sf.HistoryComparison, include_all: bool
) -> tuple[list[sf.VersionFinding], list[sf.VersionFinding]]:
    errors: list[sf.VersionFinding] = []
    warnings: list[sf.VersionFinding] = []
    target = ctx.target_name
    for remote in comparison.remote_only:
        errors.append(
            sf.VersionFinding(
                "remote_only",
                (),
                remote.version,
                f"version {remote.version} ({remote.name or 'no name'}) is applied on {target} "
                "but has no file in supabase/migrations: restore the file from git, or if it "
                f"was reverted run supabase migration repair --status reverted {remote.version}",
            )
        )
    newest = comparison.newest_applied
    for f in comparison.pending_older_than_newest_applied:
        finding = sf.VersionFinding(
            "pending_older_than_newest_applied",
            (f.filename,),
            f.version,
            f"{f.filename} is not applied on {target} but is older than its newest applied "
            f"version {newest}: supabase migration up needs --include-all, or give the file "
            "a newer timestamp",
        )
        (warnings if include_all else errors).append(finding)
    return errors, warnings


def _summary(
    ctx: RunContext,
    files: list[sf.LocalMigration],
    comparison: sf.HistoryComparison | None,
    errors: list[sf.VersionFinding],
    warnings: list[sf.VersionFinding],
) -> str:
    parts = [f"{len(files)} migration file{'' if len(files) == 1 else 's'}"]
    if comparison is not None:
        parts.append(
            f"{ctx.target_name}: {len(comparison.applied)} applied, "
            f"{len(comparison.pending) + len(comparison.pending_older_than_newest_applied)} "
            f"pending, {len(comparison.remote_only)} remote-only"
        )
    parts.append(f"{len(errors)} error{'' if len(errors) == 1 else 's'}")
    parts.append(f"{len(warnings)} warning{'' if len(warnings) == 1 else 's'}")
    line = "; ".join(parts)
    if errors:
        line += f": {errors[0].message}"
        if len(errors) > 1:
            line += f" (and {len(errors) - 1} more)"
    return line


def run(ctx: RunContext) -> RunResult:
    """Check the local migration files (and, with a target, its history); never writes."""
    include_all = bool(ctx.options.get("include_all", False))
    folder, files, skipped = load_local_migrations(ctx)
    ctx.info(f"{len(files)} migration files in {folder}, {len(skipped)} skipped")
    for s in skipped:
        ctx.info(f"Skipping {s.filename}: {s.reason}")
    ctx.check_cancelled()

    comparison: sf.HistoryComparison | None = None
    if ctx.database_url:
        history = load_target_history(ctx)
        comparison = sf.compare(files, history)
        ctx.info(f"{ctx.target_name}: {len(history)} versions in {sf.HISTORY_TABLE}")
    ctx.check_cancelled()

    applied = {f.filename for f, _ in comparison.applied} if comparison else set()
    errors: list[sf.VersionFinding] = []
    warnings = [w for w in map(_skipped_warning, skipped) if w is not None]
    for finding in sf.check_versions(files):
        pending_file = comparison is not None and not applied.issuperset(finding.filenames)
        blocks = finding.code == "duplicate_version" or (
            finding.code in _RENAMEABLE and pending_file
        )
        if blocks and finding.code in _RENAMEABLE:
            finding = sf.VersionFinding(
                finding.code,
                finding.filenames,
                finding.version,
                finding.message + "; it is not applied yet, so rename it now",
            )
        (errors if blocks else warnings).append(finding)
    if comparison is not None:
        history_errors, history_warnings = _history_findings(ctx, comparison, include_all)
        errors += history_errors
        warnings += history_warnings

    for finding in errors:
        ctx.error(finding.message)
    for finding in warnings:
        ctx.info(f"warning: {finding.message}")
    data: dict[str, Any] = {
        "migrations_dir": str(folder),
        "files": [f.as_dict() for f in files],
        "skipped": [s.as_dict() for s in skipped],
        "errors": [f.as_dict() for f in errors],
        "warnings": [f.as_dict() for f in warnings],
        "history": _history_data(ctx, comparison, include_all) if comparison else None,
    }
    return RunResult(
        ok=not errors, summary=_summary(ctx, files, comparison, errors, warnings), data=data
    )
