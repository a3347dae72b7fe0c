"""restore_check: restore a backup into a scratch database and compare it with its manifest.

Promises:
- The dump's size and sha256 are checked against the manifest before anything is
  restored; a truncated or altered file fails here, naming what differs.
- The restore happens in a scratch database on the scratch server (never the target),
  which is dropped whatever happens. Nothing of the release's bundle runs there: the
  project's fixtures are bundle content, and beside a production backup's rows they
  could read them into the job's log (``restore_base``). Before the restore the portal
  makes what the dump names but does not carry: its roles (recorded in the manifest) and
  Supabase's API roles, NOLOGIN, and Supabase's ``auth`` schema
  (``pg.supabase_baseline``) when the backup leaves it out; the database- and
  role-in-database settings recorded in the manifest are re-applied to the scratch
  database (role-wide ``ALTER ROLE ... SET`` applies to the whole server, so it is listed
  but not applied; a custom one, ``app.settings.jwt_secret``, with an empty value: the
  rehearsal runs the release's migrations in such a database, and its value stays
  outside the sandbox). The result says what ran and what did not (``setup``).
- The restore uses psql (plain) or pg_restore (custom) from the same installation as the
  pg_dump that made the dump, or a newer one, and stops at the first error.
- Tables, row counts, RLS flags and policy counts of the restored schemas are compared
  with the manifest; the result is written into the manifest (``verification``)
  atomically, so the file beside the dump says whether it restored.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import subprocess
import time
from pathlib import Path
from typing import IO, Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from migrations_ops.pg import backup_inventory, pgtools, scratch
from migrations_ops.pg.backup_manifest import (
    ManifestError,
    ManifestFile,
    Setting,
    TableCount,
    ToolInfo,
    Verification,
    manifest_path,
    utc_now,
)
from migrations_ops.pg.job_sandbox import JobSandbox
from migrations_ops.pg.pgprocess import ToolProcesses
from migrations_ops.runners import restore_base
from migrations_ops.runners.base import RunContext, RunnerError, RunResult

CHUNK = 1 << 20
# pg_dump/pg_restore 17+ write this into every script; servers before 17 reject it.
_TRANSACTION_TIMEOUT = b"SET transaction_timeout = 0;"


def run(ctx: RunContext) -> RunResult:
    """Verify the backup whose manifest is ``ctx.options["manifest"]``."""
    mpath = _manifest_file(ctx)
    try:
        manifest = ManifestFile.load(mpath)
    except ManifestError as e:
        raise RunnerError(str(e)) from None
    if Path(manifest.file).name != manifest.file or manifest.file in ("", ".", ".."):
        raise RunnerError(
            f"{mpath}: the dump's file name {manifest.file!r} must be a plain name in the "
            "manifest's folder"
        )
    dump = mpath.parent / manifest.file
    began = time.monotonic()

    problem = _check_file(ctx, dump, manifest)
    if problem:
        return _record(
            mpath, manifest, began, ok=False, summary=problem, tool=None,
            differences=[{"problem": "file", "message": problem}],
        )  # fmt: skip

    psql = _restore_tool(manifest, "psql")
    tool = psql if manifest.format == "plain" else _restore_tool(manifest, "pg_restore")
    server = ctx.scratch_server(major=manifest.server_major)
    _scratch_major(server, manifest)
    ctx.info(
        f"restoring {manifest.file} ({manifest.size:,} bytes, {len(manifest.tables)} tables) "
        f"into a scratch database with {Path(tool.path).name} {tool.version}"
    )
    with scratch.scratch_database(
        purpose="restore_check",
        server_url=server,
        on_create=ctx.scratch_created,
        on_drop=ctx.scratch_dropped,
    ) as url:
        setup = restore_base.prepare(ctx, url, manifest)
        made = [r for r in setup.roles_made if r in restore_base.named_roles(manifest)]
        database = conninfo_to_dict(url)["dbname"]
        _prepare(ctx, url, str(database), manifest)
        ctx.check_cancelled()
        error = _restore(ctx, manifest, dump, psql, tool, url)
        if error:
            return _record(
                mpath, manifest, began, ok=False, summary=error, tool=tool,
                differences=[{"problem": "restore", "message": error}], setup=setup,
            )  # fmt: skip
        restored, settings = _read_restored(url, manifest.schemas)

    differences = backup_inventory.compare_tables(manifest.tables, restored)
    sandboxed = [s.for_sandbox() for s in manifest.settings]
    differences += backup_inventory.compare_settings(sandboxed, settings)
    if differences:
        summary = f"{manifest.file} restored but {len(differences)} difference(s) found: " + (
            "; ".join(d["message"] for d in differences[:5])
        )
    else:
        summary = (
            f"{manifest.file} restored: {len(restored)} tables and "
            f"{sum(t.rows for t in restored):,} rows match the manifest"
        )
    if made:
        summary += (
            f"; it needs role(s) {', '.join(made)}, made for it here: the server it is "
            "restored into needs them too"
        )
    return _record(
        mpath, manifest, began, ok=not differences, summary=summary, tool=tool,
        differences=differences, tables=restored, setup=setup,
    )  # fmt: skip


def _manifest_file(ctx: RunContext) -> Path:
    raw = ctx.options.get("manifest")
    if not raw:
        raise RunnerError("no backup manifest given: pass --manifest FILE.manifest.json")
    path = Path(raw)
    if not path.name.endswith(".manifest.json") and manifest_path(path).exists():
        path = manifest_path(path)  # given the dump itself
    return path


def _check_file(ctx: RunContext, dump: Path, manifest: ManifestFile) -> str | None:
    """Size, then sha256 (one read), against the manifest; a message when they differ."""
    try:
        size = dump.stat().st_size
    except OSError as e:
        return f"the dump {dump} cannot be read: {e.strerror or e}"
    if size != manifest.size:
        return (
            f"the dump {dump.name} is {size:,} bytes but the manifest says {manifest.size:,}: "
            "the file is truncated or was changed; use another backup"
        )
    sha = hashlib.sha256()
    last_check = time.monotonic()
    with dump.open("rb") as f:
        while chunk := f.read(CHUNK):
            sha.update(chunk)
            if time.monotonic() - last_check > 0.2:
                last_check = time.monotonic()
                ctx.check_cancelled()
    if sha.hexdigest() != manifest.sha256:
        return (
            f"the dump {dump.name} has sha256 {sha.hexdigest()} but the manifest says "
            f"{manifest.sha256}: the file was altered or damaged; use another backup"
        )
    return None


def _restore_tool(manifest: ManifestFile, name: str) -> pgtools.Tool:
    """``name`` from the pg_dump's own installation, else any of its major or newer."""
    found = re.match(r"\d+", manifest.pg_dump.version)
    dump_major = int(found.group()) if found else manifest.server_major
    sibling = pgtools.tool_at(Path(manifest.pg_dump.path).with_name(name))
    if sibling and sibling.major >= dump_major:
        return sibling
    try:
        return pgtools.find_tool(name, dump_major)
    except pgtools.ToolNotFound as e:
        raise RunnerError(
            f"the backup was made by pg_dump {manifest.pg_dump.version}, which needs {name} "
            f"{dump_major} or newer to restore: {e}"
        ) from None


def _scratch_major(server: str, manifest: ManifestFile) -> int:
    try:
        with psycopg.connect(server, autocommit=True, connect_timeout=10) as conn:
            num = conn.info.server_version
    except psycopg.OperationalError as e:
        reason = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise RunnerError(
            f"could not connect to the scratch server ({pgtools.describe_server(server)}): "
            f"{reason.replace(server, '<url>')}"
        ) from None
    if num // 10000 < manifest.server_major:
        raise RunnerError(
            f"the backup comes from PostgreSQL {manifest.server_version} but the scratch "
            f"server runs {num // 10000}: install PostgreSQL {manifest.server_major} or newer "
            f"for the sandbox (Debian package postgresql-{manifest.server_major})"
        )
    return num // 10000


def _writable_env(url: str) -> dict[str, str]:
    # A re-applied "ALTER DATABASE ... SET default_transaction_read_only = on" must not
    # stop the restore (pg_dumpall writes the same override; pg_dump does not).
    env = pgtools.libpq_env(url)
    env["PGOPTIONS"] = (env.get("PGOPTIONS", "") + " -c default_transaction_read_only=off").strip()
    return env


def client_env(sandbox: JobSandbox | None, url: str) -> dict[str, str]:
    """libpq variables for a psql writing into ``url``: in the sandbox, or (sandbox None:
    a target, e.g. a rollback's restore) on the worker."""
    if sandbox is None:
        return _writable_env(url)
    env = sandbox.client_env(url)
    env["PGOPTIONS"] = "-c default_transaction_read_only=off"
    return env


def pipe_into_psql(
    tools: Any,
    *,
    dump: Path,
    fmt: str,
    pg_restore: Any,
    psql_args: list[str],
    env: dict[str, str],
    sandbox: JobSandbox | None = None,
) -> None:
    """Stream the dump's SQL into ``psql -f -``: a plain dump as it is, a custom one through
    ``pg_restore --file=-``. ``_feed`` comments out the header line older servers reject.

    pg_restore only reads the file here (no connection), on the worker; psql runs in
    ``sandbox`` when one is given."""
    source: IO[bytes]
    if fmt == "plain":
        source = dump.open("rb")
    else:
        script = tools.start(
            [pg_restore.path, "--file=-", str(dump)],
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            label="pg_restore",
            stdout=subprocess.PIPE,
        )
        assert script.stdout is not None
        source = script.stdout
    target = tools.start(
        [*psql_args, "-f", "-"], env=env, label="psql", stdin=subprocess.PIPE, sandbox=sandbox
    )
    assert target.stdin is not None
    tools.thread(_feed, source, target.stdin)


def _psql_args(psql: pgtools.Tool) -> list[str]:
    return [psql.path, "-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=1", "--single-transaction"]


def _prepare(ctx: RunContext, url: str, database: str, manifest: ManifestFile) -> None:
    """Make room for the dumped schemas, then re-apply the recorded settings."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        if "public" in manifest.schemas:
            # The dump creates public itself; the scratch database's own (empty) one is
            # in the way.
            try:
                conn.execute("DROP SCHEMA IF EXISTS public RESTRICT")
            except psycopg.errors.DependentObjectsStillExist:
                raise RunnerError(
                    "the scratch database's schema public holds objects, and the backup "
                    "re-creates it: the scratch server's template database must be empty"
                ) from None
        emptied = sorted({s.name for s in manifest.settings if s.custom and s.scoped_to_database})
        if emptied:
            ctx.info(
                f"re-applied empty: {', '.join(emptied)} (custom settings, where secrets are "
                "kept: a rehearsal runs the release's migrations in such a database, so their "
                "values stay "
                "outside the sandbox; the restore onto a real server needs them)"
            )
        for setting in manifest.settings:
            if not setting.scoped_to_database:
                ctx.info(f"not applied (server-wide): ALTER ROLE {setting.role} SET {setting.name}")
                continue
            try:
                conn.execute(setting.for_sandbox().alter_sql(database=database))
            except psycopg.Error as e:
                hint = ""
                if isinstance(e, psycopg.errors.UndefinedObject) and setting.role:
                    hint = f"; {restore_base.ROLE_HINT}"
                raise RunnerError(
                    f"could not re-apply {setting.scope} setting {setting.name}: "
                    f"{str(e).strip().splitlines()[0]}{hint}"
                ) from None


def _restore(
    ctx: RunContext,
    manifest: ManifestFile,
    dump: Path,
    psql: pgtools.Tool,
    tool: pgtools.Tool,
    url: str,
) -> str | None:
    """Restore into ``url`` (a database of the sandbox's cluster); the failure, or None.

    The worker reads the dump (pg_restore for a custom one) and pipes the script into a
    psql in the sandbox: functions, triggers and defaults in a backup are code too.
    """
    sandbox = ctx.require_sandbox()
    env = client_env(sandbox, url)
    with ToolProcesses(ctx) as tools:
        pipe_into_psql(tools, dump=dump, fmt=manifest.format, pg_restore=tool,
                       psql_args=_psql_args(psql), env=env, sandbox=sandbox)  # fmt: skip
        what = f"restoring {dump.name} (script piped into psql; line numbers are the script's)"
        codes = tools.wait()
        # psql (last) says why; an upstream pg_restore then only dies of a broken pipe.
        failed = next((c for c in reversed(codes) if c != 0), None)
        if failed is not None:
            message = tools.failure(what, failed)
            if "role" in message and "does not exist" in message:
                message += f"; {restore_base.ROLE_HINT}"
            elif "does not exist" in message:
                message += f"; {restore_base.MISSING_HINT}"
            return message
    return None


def _feed(source: IO[bytes], sink: IO[bytes]) -> None:
    """Copy the script into psql, commenting out the transaction_timeout header line."""
    # Unbuffered pg_restore output reads byte by byte in readline: fine for ~30 lines.
    with contextlib.suppress(OSError), source, sink:
        for _ in range(100):  # the fixed header pg_dump writes before the first object
            line = source.readline()
            if not line:
                return
            if line.rstrip(b"\r\n") == _TRANSACTION_TIMEOUT:
                line = b"-- " + line  # not on PostgreSQL before 17
            _write_all(sink, line)
            if line.startswith(b"-- Name: "):
                break
        while chunk := source.read(CHUNK):
            _write_all(sink, chunk)


def _write_all(sink: IO[bytes], data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[sink.write(view) or 0 :]


def _read_restored(url: str, schemas: list[str]) -> tuple[list[TableCount], list[Setting]]:
    with psycopg.connect(url, connect_timeout=10) as conn:
        restored = backup_inventory.count_rows(conn, backup_inventory.list_tables(conn, schemas))
        settings = backup_inventory.read_settings(conn)
    return restored, settings


def _record(
    mpath: Path,
    manifest: ManifestFile,
    began: float,
    *,
    ok: bool,
    summary: str,
    tool: pgtools.Tool | None,
    differences: list[dict[str, Any]],
    tables: list[TableCount] | None = None,
    setup: restore_base.Setup | None = None,
) -> RunResult:
    """Write the verification into the manifest (re-read, so a concurrent edit survives)."""
    verification = Verification(
        verified_at=utc_now(),
        ok=ok,
        summary=summary,
        differences=differences,
        restore_tool=ToolInfo(path=tool.path, version=tool.version) if tool else None,
        duration_s=round(time.monotonic() - began, 3),
        tables_checked=len(tables or []),
        rows_checked=sum(t.rows for t in tables or []),
    )
    try:
        current = ManifestFile.load(mpath)
    except ManifestError:
        current = manifest
    current.verification = verification
    try:
        current.write(mpath)
    except OSError as e:
        raise RunnerError(
            f"{summary}; and the result could not be written into {mpath}: {e.strerror or e}"
        ) from None
    return RunResult(
        ok=ok,
        summary=summary,
        data={
            "manifest_path": str(mpath),
            "verification": verification.to_dict(),
            **({"setup": setup.as_dict()} if setup else {}),
        },
    )
