"""rehearsal: try a rollback plan on a scratch copy before anyone needs it for real.

1. Restore the plan's verified backup into a scratch database (restore_check's building
   blocks: the roles and Supabase's baseline the portal makes, never the release's
   fixtures (``restore_base``), recorded settings, psql/pg_restore) and record the
   migration history the backup was taken at.
2. Read its schema (``catalog.snapshot``): the pre-migration state.
3. Apply the release's migrations the plan undoes, as the CLI does (``apply_files``).
4. Run the plan: down scripts (each followed by reverting its history row, as
   ``supabase migration repair --status reverted``) or the restore.
5. Read the schema again and compare it with step 2 (``catalog.diff``), and the history
   with the backup's; row counts are compared too, for information.

Passes when every step ran and the schema and history are back where they were. The
scratch database is always dropped; the target is never touched.

Options: ``plan`` (the saved plan), ``backup_manifest`` (local path of the backup's
manifest, the dump beside it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from migrations_ops.pg import backup_inventory, catalog, scratch_setup, supabase_files
from migrations_ops.pg.apply import apply_files, create_history_table
from migrations_ops.pg.backup_manifest import ManifestError, ManifestFile
from migrations_ops.pg.rollback_execute import (
    backup_summary,
    not_attempted,
    restore_backup,
    run_steps,
)
from migrations_ops.runners import restore_base
from migrations_ops.runners import restore_check as rc
from migrations_ops.runners.base import RunContext, RunnerError, RunResult


def _manifest(ctx: RunContext) -> tuple[Path, ManifestFile]:
    raw = ctx.options.get("backup_manifest")
    if not raw:
        raise RunnerError(
            "a rehearsal starts from a verified backup and this plan has none: capture a "
            "backup, let its restore check pass, then plan again"
        )
    path = Path(raw)
    try:
        return path, ManifestFile.load(path)
    except ManifestError as e:
        raise RunnerError(str(e)) from None


def _counts(url: str, schemas: list[str]) -> dict[str, int]:
    with psycopg.connect(url, connect_timeout=10) as conn:
        tables = backup_inventory.list_tables(conn, schemas)
        return {t.qualified: t.rows for t in backup_inventory.count_rows(conn, tables)}


def _snapshot(url: str, schemas: list[str]) -> catalog.Snapshot:
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        return catalog.snapshot(conn, schemas=schemas)


def _restore_base(
    ctx: RunContext, url: str, mpath: Path, manifest: ManifestFile
) -> restore_base.Setup:
    dump = mpath.parent / manifest.file
    problem = rc._check_file(ctx, dump, manifest)
    if problem:
        raise RunnerError(problem)
    setup = restore_base.prepare(ctx, url, manifest)
    rc._prepare(ctx, url, str(conninfo_to_dict(url)["dbname"]), manifest)
    error = restore_backup(
        ctx, manifest=manifest, dump=dump, url=url, drop=False, sandbox=ctx.require_sandbox()
    )
    if error:
        raise RunnerError(f"the backup did not restore into the scratch database: {error}")
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        create_history_table(conn)
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO supabase_migrations.schema_migrations(version) VALUES (%s)",
                [(v,) for v in manifest.applied_versions],
            )
    return setup


def _apply_release(ctx: RunContext, url: str, versions: set[str]) -> dict[str, Any]:
    files = [m for m in scratch_setup.local_migrations(ctx.supabase_dir) if m.version in versions]
    missing = versions - {m.version for m in files}
    if missing:
        raise RunnerError(
            f"the release's files lack {', '.join(sorted(missing))}, which the plan undoes"
        )
    ctx.info(f"applying the release's {len(files)} migration(s) as the CLI would")
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        report = apply_files(conn, files, log=ctx.log, checkpoint=ctx.check_cancelled)
    if not report.ok:
        failure = report.first_failure
        raise RunnerError(
            "the release's migrations did not apply on the restored backup, so the plan "
            f"could not be tried: {failure.describe() if failure else 'a file failed'} (the "
            "release's fixtures are not run beside production rows: only the roles and "
            "Supabase's auth schema the portal makes are there besides the backup)"
        )
    return report.as_dict()


def run(ctx: RunContext) -> RunResult:
    plan: dict[str, Any] = ctx.options.get("plan") or {}
    steps = list(plan.get("steps") or [])
    if not steps:
        raise RunnerError("the plan has no steps: none of the release's migrations is applied")
    mpath, manifest = _manifest(ctx)
    undo = {str(v) for step in steps for v in step.get("reverts", [])}
    schemas = list(manifest.schemas)
    with ctx.scratch_database("rehearsal", major=manifest.server_major) as url:
        ctx.info(f"restoring {manifest.file} into a scratch database")
        setup = _restore_base(ctx, url, mpath, manifest)
        before = _snapshot(url, schemas)
        rows_before = _counts(url, schemas)
        applied = _apply_release(ctx, url, undo - set(manifest.applied_versions))
        changed = catalog.diff(before, _snapshot(url, schemas))
        ctx.info("the migrations changed: " + ("; ".join(changed.lines()) or "nothing"))
        ctx.check_cancelled()
        setup.ran.append(f"the release's {len(applied.get('files', []))} migration(s)")
        outcomes = run_steps(ctx, url, steps, manifest_path=mpath, sandbox=ctx.require_sandbox())
        setup.ran.append(f"{len(outcomes)} of the plan's {len(steps)} step(s)")
        after = _snapshot(url, schemas)
        rows_after = _counts(url, schemas)
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            history = [r.version for r in supabase_files.read_remote_history(conn)]
    left = catalog.diff(before, after)
    rows = {
        name: {"before": rows_before.get(name), "after": rows_after.get(name)}
        for name in sorted(rows_before.keys() | rows_after.keys())
        if rows_before.get(name) != rows_after.get(name)
    }
    history_ok = history == sorted(manifest.applied_versions)
    steps_ok = len(outcomes) == len(steps) and all(o.ok for o in outcomes)
    ok = steps_ok and left.is_empty and history_ok
    data = {
        "plan_id": plan.get("plan_id"),
        "backup": manifest.file,
        "backup_details": backup_summary(manifest),
        "steps": [o.as_dict() for o in outcomes],
        "migrations_changed": changed.as_dict(),
        "differences": left.as_dict(),
        "difference_lines": left.lines(),
        "history_after": history,
        "history_expected": sorted(manifest.applied_versions),
        "rows_changed": rows,
        "apply": {"files": len(applied.get("files", []))},
        # The release's migrations as they applied on the restored backup, per file.
        "applied_files": applied.get("files", []),
        "not_attempted": not_attempted(steps, outcomes),
        "setup": setup.as_dict(),
    }
    if not steps_ok:
        summary = f"rehearsal failed: step {outcomes[-1].index + 1}: {outcomes[-1].message}"
    elif not left.is_empty:
        summary = "rehearsal: the plan ran but the schema differs from before: " + "; ".join(
            left.lines()[:5]
        )
    elif not history_ok:
        summary = f"rehearsal: the plan ran but the migration history is {history}"
    else:
        summary = (
            f"rehearsal passed: {len(steps)} step(s) brought the schema back to the backup's "
            f"({manifest.file}); {len(rows)} table(s) changed row counts"
        )
    return RunResult(ok=ok, summary=summary, data=data)
