"""backup: pg_dump of the target's schemas, with a manifest to check a restore against.

Promises:
- The target is only read (a READ ONLY transaction and pg_dump).
- Dump and row counts come from one snapshot: a REPEATABLE READ transaction exports it
  with pg_export_snapshot() and counts every table of the schemas in it while pg_dump
  runs with ``--snapshot``, so writes during the backup change neither.
- A file under the final name ``<out_dir>/<UTC>_pre_migration.sql`` (``.dump`` for the
  custom format) is always complete: pg_dump's output streams into a temporary file in
  the same folder, hashed and sized in the same pass, then fsynced and renamed; the
  manifest ``<file>.manifest.json`` is written after it. On any failure (pg_dump error or
  killed, disk full, folder not writable, cancel) neither is left behind.

Unlike the runbook's ``supabase db dump --schema app,public``, which runs pg_dump
``--schema-only`` (the CLI dumps rows only with ``--data-only``), this dump holds the
schema and the rows. pg_dump needs a session connection (port 5432 on Supabase, not the
transaction pooler) and a role that owns the tables or bypasses RLS.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import select
import subprocess
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime
from pathlib import Path

import psycopg

from migrations_ops.pg import backup_inventory, pgtools, supabase_files
from migrations_ops.pg.backup_manifest import (
    DumpFormat,
    ManifestFile,
    TableCount,
    ToolInfo,
    manifest_path,
    utc_now,
)
from migrations_ops.pg.pgprocess import ToolProcesses
from migrations_ops.runners.base import RunContext, RunnerError, RunResult

CHUNK = 1 << 20
CANCEL_CHECK_EVERY_S = 0.2
_EXTENSIONS: dict[str, str] = {"plain": ".sql", "custom": ".dump"}
_PLAIN_END = b"-- PostgreSQL database dump complete"


def run(ctx: RunContext) -> RunResult:
    """Dump ``ctx.schemas`` of ``ctx.database_url`` into ``ctx.options["out_dir"]``.

    Options: ``out_dir`` (required), ``format`` (plain | custom), ``lock_wait_timeout``
    (pg_dump's, default 60s), ``snapshot_ref`` (the manual Supabase backup, if known),
    ``verbose`` (pg_dump --verbose into the log).
    """
    fmt = _dump_format(ctx)
    out_dir = _prepare_out_dir(ctx)
    schemas = list(dict.fromkeys(ctx.schemas)) or ["app", "public"]
    started = utc_now()
    final = out_dir / f"{started:%Y%m%dT%H%M%SZ}_pre_migration{_EXTENSIONS[fmt]}"
    if final.exists() or manifest_path(final).exists():
        raise RunnerError(f"{final} already exists; wait a second and run the backup again")

    conn = ctx.connect(autocommit=False)
    try:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        return _backup(ctx, conn, fmt=fmt, schemas=schemas, final=final, started=started)
    finally:
        with contextlib.suppress(psycopg.Error):
            conn.rollback()
        conn.close()


def _backup(
    ctx: RunContext,
    conn: psycopg.Connection,
    *,
    fmt: DumpFormat,
    schemas: list[str],
    final: Path,
    started: datetime,
) -> RunResult:
    server_version = str(_one(conn, "SHOW server_version"))
    server_num = conn.info.server_version
    missing = backup_inventory.missing_schemas(conn, schemas)
    if missing:
        raise RunnerError(
            f"schema {', '.join(missing)} does not exist in {ctx.target_name}: fix the "
            f"project's schemas to back up (asked for {', '.join(schemas)})"
        )
    tool = _find_pg_dump(ctx, server_num, server_version)
    snapshot = str(_one(conn, "SELECT pg_catalog.pg_export_snapshot()"))
    tables = backup_inventory.list_tables(conn, schemas)
    left_out = backup_inventory.left_out(conn, schemas)
    roles = backup_inventory.read_roles(conn, schemas)
    for line in left_out:
        ctx.info(f"left out: {line}")
    try:
        applied = backup_inventory.applied_versions(conn)
        settings = backup_inventory.read_settings(conn)
    except psycopg.errors.InsufficientPrivilege as e:
        raise RunnerError(
            f"{ctx.target_name} refused to show what the manifest records: "
            f"{str(e).strip().splitlines()[0]}; back up as the database owner (postgres)"
        ) from None
    pending = None
    if ctx.supabase_dir:
        try:
            pending = backup_inventory.pending_versions(ctx.supabase_dir, applied)
        except supabase_files.MigrationsFolderMissing as e:
            ctx.error(f"{e}: the manifest records no pending migrations")
    ctx.info(
        f"backing up {', '.join(schemas)} of {ctx.target_name} (PostgreSQL {server_version}) "
        f"with pg_dump {tool.version} in snapshot {snapshot}: {len(tables)} tables"
    )
    ctx.check_cancelled()

    lock_wait = str(ctx.options.get("lock_wait_timeout", "60s"))
    args = [
        tool.path,
        f"--format={fmt}",
        f"--snapshot={snapshot}",
        "--strict-names",
        "--no-password",
        f"--lock-wait-timeout={lock_wait}",
        *(f"--schema={_exact_pattern(s)}" for s in schemas),
    ]
    if ctx.options.get("verbose"):
        args.append("--verbose")
    env = pgtools.libpq_env(ctx.database_url or "")

    # The count runs on the exporting connection, in its snapshot, while pg_dump streams.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="backup-count") as pool:
        counting = pool.submit(backup_inventory.count_rows, conn, tables, lock_timeout=lock_wait)
        try:
            digest, size = _dump_to_file(ctx, args, env, fmt, final)
        except BaseException:
            _stop(conn, counting)
            raise
        try:
            counted = _wait_for_counts(ctx, counting)
            manifest = ManifestFile(
                target=ctx.target_name,
                server_version=server_version,
                server_version_num=server_num,
                pg_dump=ToolInfo(path=tool.path, version=tool.version),
                schemas=schemas,
                file=final.name,
                format=fmt,
                sha256=digest,
                size=size,
                started_at=started,
                finished_at=utc_now(),
                applied_versions=applied,
                pending_versions=pending,
                tables=counted,
                settings=settings,
                roles=roles,
                snapshot_ref=ctx.options.get("snapshot_ref") or None,
                left_out=left_out,
            )
            mpath = manifest_path(final)
            try:
                manifest.write(mpath)
            except OSError as e:
                raise RunnerError(f"could not write the manifest {mpath}: {e.strerror or e}") from e
        except BaseException:
            _stop(conn, counting)
            _remove(final)
            raise

    return RunResult(
        ok=True,
        summary=(
            f"backed up {', '.join(schemas)} of {ctx.target_name}: {len(counted)} tables, "
            f"{manifest.total_rows:,} rows, {size:,} bytes in {final.name}"
            + (
                f"; it leaves out {len(left_out)} thing(s) these schemas are tied to "
                f"(first: {left_out[0]})"
                if left_out
                else ""
            )
        ),
        data={"path": str(final), "manifest_path": str(mpath), **manifest.to_dict()},
    )


def _one(conn: psycopg.Connection, query: str) -> object:
    row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def _dump_format(ctx: RunContext) -> DumpFormat:
    fmt = str(ctx.options.get("format", "plain"))
    if fmt == "plain":
        return "plain"
    if fmt == "custom":
        return "custom"
    raise RunnerError(f"unknown backup format {fmt!r}: use plain or custom")


def _prepare_out_dir(ctx: RunContext) -> Path:
    raw = ctx.options.get("out_dir")
    if not raw:
        raise RunnerError("no output folder for the backup: pass --out DIR")
    out_dir = Path(raw)
    if out_dir.exists() and not out_dir.is_dir():
        raise RunnerError(f"output folder {out_dir} is a file, not a folder: choose a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunnerError(
            f"cannot create the output folder {out_dir}: {e.strerror or e}; choose a folder "
            "the worker can write to"
        ) from None
    return out_dir


def _find_pg_dump(ctx: RunContext, server_num: int, server_version: str) -> pgtools.Tool:
    try:
        return pgtools.find_tool("pg_dump", server_num // 10000)
    except pgtools.ToolNotFound as e:
        raise RunnerError(
            f"{ctx.target_name} runs PostgreSQL {server_version} and pg_dump refuses servers "
            f"newer than itself: {e}"
        ) from None


def _exact_pattern(schema: str) -> str:
    # pg_dump's --schema takes a pattern (*, ?, . are special); a double-quoted name
    # matches exactly that name.
    return '"' + schema.replace('"', '""') + '"'


def _wait_for_counts(ctx: RunContext, counting: Future[list[TableCount]]) -> list[TableCount]:
    while True:
        try:
            return counting.result(timeout=CANCEL_CHECK_EVERY_S)
        except FutureTimeout:
            ctx.check_cancelled()
        except psycopg.Error as e:
            text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise RunnerError(
                f"counting rows in {ctx.target_name} failed: {text}; back up as a role that "
                "owns the tables or has BYPASSRLS (pg_dump needs the same)"
            ) from None


def _stop(conn: psycopg.Connection, counting: Future[list[TableCount]]) -> None:
    if not counting.done():
        with contextlib.suppress(Exception):
            conn.cancel_safe(timeout=5)
    with contextlib.suppress(BaseException):
        counting.result(timeout=30)


def _dump_to_file(
    ctx: RunContext, args: list[str], env: dict[str, str], fmt: DumpFormat, final: Path
) -> tuple[str, int]:
    """Run pg_dump into a temporary file beside ``final``; rename it there when complete."""
    try:
        fd, tmp_name = tempfile.mkstemp(
            dir=final.parent, prefix=f".{final.name}.", suffix=".partial"
        )
    except OSError as e:
        raise RunnerError(
            f"cannot write to the output folder {final.parent}: {e.strerror or e}; choose a "
            "folder the worker can write to"
        ) from None
    tmp = Path(tmp_name)
    try:
        try:
            digest, size, head, tail = _stream(ctx, args, env, fd, final.parent)
            _check_complete(fmt, head, tail)
            try:
                os.fsync(fd)
            except OSError as e:
                raise _write_error(final.parent, e) from None
        finally:
            os.close(fd)
        _publish(tmp, final)
    except BaseException:
        _remove(tmp)
        raise
    return digest, size


def _stream(
    ctx: RunContext, args: list[str], env: dict[str, str], out: int, folder: Path
) -> tuple[str, int, bytes, bytes]:
    """pg_dump's stdout into the file ``out`` with sha256 and size; its stderr into ctx.log.

    Cancel is checked while data flows and while pg_dump is silent (waiting for a lock).
    """
    with ToolProcesses(ctx) as tools:
        proc = tools.start(args, env=env, label="pg_dump", stdout=subprocess.PIPE)
        assert proc.stdout is not None
        source = proc.stdout.fileno()
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(source, fcntl.F_SETPIPE_SZ, CHUNK)
        poller = select.poll()
        poller.register(source, select.POLLIN | select.POLLHUP)
        sha = hashlib.sha256()
        size = 0
        head = b""
        tail = b""
        buffer = bytearray(CHUNK)  # reused: no allocation per read
        view = memoryview(buffer)
        last_check = 0.0  # so the first chunk is followed by a check
        with proc.stdout:
            while True:
                if not poller.poll(CANCEL_CHECK_EVERY_S * 1000):
                    tools.drain()
                    ctx.check_cancelled()
                    continue
                n = os.readv(source, [buffer])
                if not n:
                    break
                chunk = view[:n]
                _write_all(out, chunk, folder)
                sha.update(chunk)
                size += n
                if len(head) < 16:
                    head += bytes(chunk[:16])
                tail = (tail + bytes(chunk[-512:]))[-512:]
                now = time.monotonic()
                if now - last_check >= CANCEL_CHECK_EVERY_S:
                    last_check = now
                    tools.drain()
                    ctx.check_cancelled()
        (returncode,) = tools.wait()
        if returncode != 0:
            message = tools.failure("pg_dump", returncode) + "; no backup was kept"
            if "snapshot" in message:
                message += (
                    ". pg_dump could not join the backup's snapshot: connect directly or "
                    "through a session pooler (Supabase port 5432), not a transaction pooler"
                )
            raise RunnerError(message)
    return sha.hexdigest(), size, head, tail


def _write_all(fd: int, data: memoryview, folder: Path) -> None:
    view = data
    try:
        while view:
            view = view[os.write(fd, view) :]
    except OSError as e:
        raise _write_error(folder, e) from None


def _check_complete(fmt: DumpFormat, head: bytes, tail: bytes) -> None:
    """Refuse output that pg_dump did not finish, even when it exited 0."""
    if fmt == "custom":
        ok = head.startswith(b"PGDMP")
    else:
        # pg_dump 13.22+/14.19+/15.14+/16.10+/17.6+/18 end a plain dump with
        # "\unrestrict <random key>" after the completion comment (CVE-2025-8714).
        lines = [ln.strip() for ln in tail.splitlines() if ln.strip()]
        while lines and lines[-1].startswith(b"\\unrestrict "):
            lines.pop()
        ok = len(lines) >= 2 and lines[-2] == _PLAIN_END and lines[-1] == b"--"
    if not ok:
        raise RunnerError(
            "pg_dump exited without error but its output is incomplete; no backup was kept. "
            "Run the backup again."
        )


def _publish(tmp: Path, final: Path) -> None:
    """Give the complete file its final name, never over an existing file."""
    try:
        os.link(tmp, final)
    except FileExistsError:
        raise RunnerError(f"{final} appeared while the backup ran; not overwriting it") from None
    except OSError:
        os.replace(tmp, final)  # no hard links on this file system; checked before starting
    else:
        tmp.unlink()
    # The folder is fsynced once, after the manifest's rename (write_atomically): that
    # makes both names durable, and a dump without its manifest is not a backup.


def _write_error(folder: Path, e: OSError) -> RunnerError:
    return RunnerError(
        f"could not write the backup to {folder}: {e.strerror or e}; free space or choose "
        "another folder. No backup was kept."
    )


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
