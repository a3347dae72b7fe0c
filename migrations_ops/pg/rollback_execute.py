"""Running a rollback plan's steps against a database: the rollback and rehearsal jobs share it.

- A down script runs as the CLI's tools would run it (``apply.apply_file`` without a
  history row: one transaction, or as written when it manages its own), then its
  ``supabase_migrations.schema_migrations`` row is deleted, which is exactly what
  ``supabase migration repair --status reverted <version>`` does. A failing script is
  rolled back and its history row stays: the database is left as psql and the CLI leave
  it, and no later step runs.
- A restore drops the dumped schemas and restores the backup in ONE psql transaction
  (restore_check's tools, so a pg_dump 17+ script restores into an older server too), then
  reverts the history rows of the versions it undid.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from migrations_ops.pg.apply import MigrationFile, apply_file
from migrations_ops.pg.backup_manifest import ManifestFile
from migrations_ops.pg.job_sandbox import JobSandbox
from migrations_ops.pg.pgprocess import ToolProcesses
from migrations_ops.pg.rollback_plan import drop_schemas_sql
from migrations_ops.pg.sqlsplit import split_statements
from migrations_ops.pg.supabase_files import HISTORY_TABLE
from migrations_ops.runners import restore_check as rc
from migrations_ops.runners.base import RunContext

REVERT_HISTORY = "DELETE FROM supabase_migrations.schema_migrations WHERE version = ANY(%s)"


@dataclass
class StepOutcome:
    index: int
    kind: str
    ok: bool
    message: str
    reverts: list[str] = field(default_factory=list)
    failure: dict[str, Any] | None = None
    file: str = ""  # the down script, or the backup's dump a restore read
    statements: int | None = None  # a down script's statements
    seconds: float = 0.0
    loses_text: str = ""  # what the plan said the step destroys

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.index + 1,
            "kind": self.kind,
            "ok": self.ok,
            "message": self.message,
            "reverts": self.reverts,
            "failure": self.failure,
            "file": self.file,
            "statements": self.statements,
            "seconds": round(self.seconds, 3),
            "loses_text": self.loses_text,
        }


def backup_summary(manifest: ManifestFile) -> dict[str, Any]:
    """The backup a rollback or rehearsal relied on, as its results name it."""
    verification = manifest.verification
    return {
        "file": manifest.file,
        "format": manifest.format,
        "target": manifest.target,
        "taken_at": manifest.finished_at.isoformat(),
        "schemas": list(manifest.schemas),
        "newest_applied": manifest.applied_versions[-1] if manifest.applied_versions else None,
        "verified": verification.ok if verification is not None else None,
    }


def not_attempted(steps: list[dict[str, Any]], outcomes: list[StepOutcome]) -> list[dict[str, Any]]:
    """The steps after the one that failed: what a person still has to undo."""
    return [
        {"step": index + 1, "kind": step.get("kind", ""), "file": step.get("file", ""),
         "reverts": [str(v) for v in step.get("reverts", [])]}
        for index, step in enumerate(steps)
        if index >= len(outcomes)
    ]  # fmt: skip


def revert_history(conn: psycopg.Connection, versions: list[str]) -> int:
    """``supabase migration repair --status reverted <versions>``: delete their rows."""
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [HISTORY_TABLE]).fetchone()
    if not exists or not exists[0] or not versions:
        return 0
    with conn.transaction():
        return conn.execute(REVERT_HISTORY, [versions]).rowcount


def run_down_step(
    ctx: RunContext, conn: psycopg.Connection, index: int, step: dict[str, Any]
) -> StepOutcome:
    version = str(step["version"])
    filename = str(step.get("file") or f"{version}_down.sql")
    sql = str(step.get("sql") or "")
    migration = MigrationFile(
        filename=filename,
        version=version,
        name=filename.removesuffix(".sql"),
        text=sql,
        statements=tuple(split_statements(sql)),
    )
    loses = str(step.get("loses_text", ""))
    ctx.info(f"step {index + 1}: running down script {filename} ({loses})")
    result = apply_file(conn, migration, record_history=False)
    outcome = StepOutcome(
        index, "down", result.ok, f"{filename} ran; {version} reverted", [version],
        file=filename, statements=result.statements, seconds=result.seconds, loses_text=loses,
    )  # fmt: skip
    if not result.ok:
        failure = result.failure
        where = failure.describe() if failure else filename
        outcome.message = (
            f"down script {where}; it was rolled back and {version} stays in the migration "
            "history. Fix the script (or restore from the backup) and run the rollback again"
        )
        outcome.reverts = []
        outcome.failure = failure.as_dict() if failure else None
        return outcome
    revert_history(conn, [version])
    ctx.info(f"Repaired migration history: [{version}] => reverted")
    return outcome


def run_restore_step(
    ctx: RunContext,
    conn: psycopg.Connection,
    index: int,
    step: dict[str, Any],
    *,
    manifest_path: Path | None,
    url: str,
    sandbox: JobSandbox | None = None,
) -> StepOutcome:
    loses = str(step.get("loses_text", ""))
    if manifest_path is None:
        return StepOutcome(index, "restore", False, "the plan restores a backup but none was given",
                           file=str(step.get("file", "")), loses_text=loses)  # fmt: skip
    manifest = ManifestFile.load(manifest_path)
    dump = manifest_path.parent / manifest.file
    problem = rc._check_file(ctx, dump, manifest)
    if problem:
        return StepOutcome(index, "restore", False, problem, file=manifest.file, loses_text=loses)
    ctx.info(f"step {index + 1}: restoring {manifest.file} ({loses})")
    started = time.monotonic()
    error = restore_backup(ctx, manifest=manifest, dump=dump, url=url, drop=True, sandbox=sandbox)
    outcome = StepOutcome(index, "restore", not error, f"restored {manifest.file}",
                          file=manifest.file, seconds=time.monotonic() - started,
                          loses_text=loses)  # fmt: skip
    if error:
        outcome.message = f"{error}; the restore ran in one transaction and was rolled back"
        return outcome
    outcome.reverts = [str(v) for v in step.get("reverts", [])]
    revert_history(conn, outcome.reverts)
    ctx.info(f"Repaired migration history: [{', '.join(outcome.reverts)}] => reverted")
    return outcome


def run_steps(
    ctx: RunContext,
    url: str,
    steps: list[dict[str, Any]],
    *,
    manifest_path: Path | None,
    sandbox: JobSandbox | None = None,
) -> list[StepOutcome]:
    """Each step in order; stops at the first that fails (that one is the last outcome).

    ``sandbox``: ``url`` is a scratch database in it (a rehearsal), not a target."""
    outcomes: list[StepOutcome] = []
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        for index, step in enumerate(steps):
            ctx.check_cancelled()
            if step.get("kind") == "down":
                outcome = run_down_step(ctx, conn, index, step)
            else:
                outcome = run_restore_step(
                    ctx, conn, index, step, manifest_path=manifest_path, url=url,
                    sandbox=sandbox,
                )  # fmt: skip
            outcomes.append(outcome)
            if not outcome.ok:
                ctx.error(f"step {index + 1} failed: {outcome.message}")
                break
    return outcomes


def restore_backup(
    ctx: RunContext,
    *,
    manifest: ManifestFile,
    dump: Path,
    url: str,
    drop: bool,
    sandbox: JobSandbox | None = None,
) -> str | None:
    """Restore ``dump`` into ``url`` in one transaction; the failure message, or None.

    With ``drop`` the dumped schemas are dropped first, in the same transaction. ``url``
    is a target (a rollback: psql on the worker), or with ``sandbox`` a scratch database
    of the sandbox's cluster (a rehearsal: psql in the sandbox, fed by the worker).
    """
    refusal = unrestricted_refusal(manifest, dump) if sandbox is None else None
    if refusal:
        return refusal
    psql = rc._restore_tool(manifest, "psql")
    tool = psql if manifest.format == "plain" else rc._restore_tool(manifest, "pg_restore")
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        major = conn.info.server_version // 10000
    env = rc.client_env(sandbox, url)
    args = rc._psql_args(psql)
    if drop:
        args += ["-c", drop_schemas_sql(manifest.schemas)]
    # Before 17 the server rejects pg_dump 17+'s "SET transaction_timeout = 0": the script
    # is piped through with that header line commented out, as restore_check does.
    piped = manifest.format == "custom" or major < 17 or sandbox is not None
    with ToolProcesses(ctx) as tools:
        if not piped:
            tools.start([*args, "-f", str(dump)], env=env, label="psql")
        else:
            rc.pipe_into_psql(tools, dump=dump, fmt=manifest.format, pg_restore=tool,
                              psql_args=args, env=env, sandbox=sandbox)  # fmt: skip
        codes = tools.wait()
        failed = next((c for c in reversed(codes) if c != 0), None)
        if failed is not None:
            return tools.failure(f"restoring {dump.name}", failed)
    return None


# The first releases whose pg_dump and pg_restore write ``\\restrict`` (CVE-2025-8714).
_RESTRICT_SINCE = {13: 22, 14: 19, 15: 14, 16: 10, 17: 6}


def writes_restrict(version: str) -> bool:
    """Whether a pg_dump/pg_restore of ``version`` ("15.13", "15.20-0+deb12u1)") opens its
    scripts with ``\\restrict``: 18 and newer, and the minor releases above."""
    found = re.match(r"\s*(\d+)(?:\.(\d+))?", version)
    if not found:
        return False
    major, minor = int(found.group(1)), int(found.group(2) or 0)
    return major >= 18 or (major in _RESTRICT_SINCE and minor >= _RESTRICT_SINCE[major])


def unrestricted_refusal(manifest: ManifestFile, dump: Path) -> str | None:
    """Why a dump must not run with psql on the worker (a rollback's restore, outside the
    sandbox), or None. pg_dump and pg_restore 13.22+, 14.19+, 15.14+, 16.10+ and 17.6+
    open a script with ``\\restrict <key>``: psql then runs no meta-command until the
    matching ``\\unrestrict``, whatever the dumped names hold. Without it the script can
    carry psql commands in the database's own object names (CVE-2025-8714). A plain dump:
    its first 8 KB must hold the line. A custom one becomes a script through the
    pg_restore the restore would use, which must be one that writes it."""
    if manifest.format != "plain":
        tool = rc._restore_tool(manifest, "pg_restore")
        if writes_restrict(tool.version):
            return None
        return (
            f"{dump.name} would be turned into a script by pg_restore {tool.version}, older "
            "than 13.22, 14.19, 15.14, 16.10 or 17.6, whose scripts can carry psql commands "
            "in the database's own object names (CVE-2025-8714), and a rollback runs that "
            "script with psql on the worker. Install a current pg_restore of that major "
            "version (or name its folder in PG_BIN_DIR), or restore it by hand"
        )
    with dump.open("rb") as f:
        head = f.read(8192)
    if any(line.startswith(b"\\restrict ") for line in head.splitlines()):
        return None
    return (
        f"{dump.name} has no \\restrict line: it was made by a pg_dump older than 13.22, "
        "14.19, 15.14, 16.10 or 17.6, whose plain scripts can carry psql commands in the "
        "database's own object names (CVE-2025-8714), and a rollback runs it with psql on "
        "the worker. Read it before restoring it by hand, or take a new backup with a "
        "current pg_dump (or in the custom format)"
    )
