"""backup: pg_dump of app and public, counted in the dump's snapshot, never a partial file."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import resource
import signal
import subprocess

import psycopg
import pytest

from migrations_ops.pg import pgtools
from migrations_ops.pg.backup_manifest import ManifestFile, manifest_path
from migrations_ops.runners import backup
from migrations_ops.runners.base import JobCancelled, RunnerError
from tests.migrations_ops.backup_fixtures import (
    APPLIED,
    EXPECTED_ROWS,
    PENDING,
    ROLE,
    Recorder,
    child_processes,
    make_ctx,
    production_database,
)


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    with production_database(tmp_path_factory.mktemp("production")) as prod:
        yield prod


def _only_file(folder):
    files = sorted(p.name for p in folder.iterdir())
    assert len(files) == 2, files
    return folder / files[0]


def test_it_writes_the_dump_and_its_manifest(production, tmp_path):
    out = tmp_path / "backups"
    result = backup.run(make_ctx(production=production, options={"out_dir": str(out)}))

    assert result.ok, result.summary
    dump = _only_file(out)
    assert dump.name.endswith("Z_pre_migration.sql")
    assert len(dump.name) == len("20250101T000000Z_pre_migration.sql")
    manifest = ManifestFile.load(manifest_path(dump))
    content = dump.read_bytes()
    assert manifest.sha256 == hashlib.sha256(content).hexdigest()
    assert manifest.size == len(content)
    assert manifest.file == dump.name and manifest.format == "plain"
    assert manifest.schemas == ["app", "public"]
    assert manifest.target == "production"
    with psycopg.connect(production.url) as conn:
        assert manifest.server_version_num == conn.info.server_version
    assert int(manifest.pg_dump.version.split(".")[0]) >= manifest.server_major
    assert {t.qualified: t.rows for t in manifest.tables} == EXPECTED_ROWS
    profiles = next(t for t in manifest.tables if t.qualified == "public.profiles")
    assert profiles.rls_enabled and profiles.policies == 1
    assert manifest.applied_versions == APPLIED
    assert manifest.pending_versions == PENDING
    assert manifest.started_at <= manifest.finished_at
    assert manifest.verification is None and manifest.snapshot_ref is None
    assert b"CREATE POLICY profiles_owner" in content
    # pg_dump 18 wraps plain dumps in \restrict/\unrestrict <random key>; still "complete".
    assert re.search(rb"^\\restrict \w+$", content, re.MULTILINE)
    assert re.search(rb"^\\unrestrict \w+\n*$", content[-200:], re.MULTILINE)
    assert b"not_backed_up" not in content  # schema "other" is not asked for


def test_it_records_the_settings_pg_dump_leaves_out(production, tmp_path):
    result = backup.run(make_ctx(production=production, options={"out_dir": str(tmp_path)}))
    manifest = ManifestFile.load(manifest_path(_only_file(tmp_path)))

    mine = {(s.scope, s.role, s.name): s.value for s in manifest.settings if s.scoped_to_database}
    assert mine == {
        ("database", None, "search_path"): "app, public",
        ("database", None, "app.settings.tenant"): "demo",
        ("role_in_database", ROLE, "statement_timeout"): "5s",
    }
    assert b"statement_timeout = '5s'" not in _only_file(tmp_path).read_bytes()
    assert result.data["settings"] == [
        {"scope": s.scope, "role": s.role, "name": s.name, "value": s.value}
        for s in manifest.settings
    ]


def test_it_says_when_the_migrations_folder_is_missing(production, tmp_path):
    recorder = Recorder()
    ctx = make_ctx(
        production=production,
        recorder=recorder,
        supabase_dir=tmp_path / "nowhere",
        options={"out_dir": str(tmp_path / "out")},
    )
    result = backup.run(ctx)
    assert result.ok
    assert result.data["applied_versions"] == APPLIED
    assert result.data["pending_versions"] is None  # unknown, not "none pending"
    assert ("error", f"no migrations folder at {tmp_path / 'nowhere' / 'migrations'}: "
            "the manifest records no pending migrations") in recorder.lines  # fmt: skip


def test_it_names_a_schema_that_does_not_exist(production, tmp_path):
    ctx = make_ctx(
        production=production, schemas=["app", "billing"], options={"out_dir": str(tmp_path)}
    )
    with pytest.raises(RunnerError, match=r"schema billing does not exist in production"):
        backup.run(ctx)
    assert list(tmp_path.iterdir()) == []


def test_it_says_which_server_it_could_not_connect_to(tmp_path):
    ctx = make_ctx(
        database_url="postgresql://postgres:s3cret@127.0.0.1:1/postgres",
        options={"out_dir": str(tmp_path)},
    )
    with pytest.raises(RunnerError) as e:
        backup.run(ctx)
    assert str(e.value).startswith("could not connect to production (127.0.0.1:1): ")
    assert "s3cret" not in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_it_says_when_no_pg_dump_is_new_enough(production, tmp_path, monkeypatch):
    old = tmp_path / "pg_dump"
    old.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n")
    old.chmod(0o755)
    monkeypatch.setattr(pgtools, "_candidates", lambda name: [str(old)])
    out = tmp_path / "out"
    with pytest.raises(RunnerError, match=r"refuses servers newer than itself: no pg_dump of"):
        backup.run(make_ctx(production=production, options={"out_dir": str(out)}))
    assert list(out.iterdir()) == []


def test_it_refuses_output_that_pg_dump_did_not_finish(production, tmp_path, monkeypatch):
    # A pg_dump that exits 0 after half a dump (as a dying pipe or a buggy wrapper might).
    fake = tmp_path / "pg_dump"
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = --version ]; then echo "pg_dump (PostgreSQL) 99.0"; exit 0; fi\n'
        "printf -- '--\\n-- PostgreSQL database dump\\n--\\n\\\\restrict abc\\nCREATE TABLE'\n"
    )
    fake.chmod(0o755)
    monkeypatch.setattr(pgtools, "_candidates", lambda name: [str(fake)])
    out = tmp_path / "out"
    with pytest.raises(RunnerError, match=r"exited without error but its output is incomplete"):
        backup.run(make_ctx(production=production, options={"out_dir": str(out)}))
    assert list(out.iterdir()) == []


def test_it_refuses_an_output_folder_that_is_a_file(production, tmp_path):
    not_a_folder = tmp_path / "backups"
    not_a_folder.write_text("a file")
    with pytest.raises(RunnerError, match=r"is a file, not a folder"):
        backup.run(make_ctx(production=production, options={"out_dir": str(not_a_folder)}))
    with pytest.raises(RunnerError, match=r"cannot create the output folder .*Not a directory"):
        backup.run(make_ctx(production=production, options={"out_dir": str(not_a_folder / "sub")}))
    with pytest.raises(RunnerError, match=r"cannot create the output folder /proc/"):
        backup.run(make_ctx(production=production, options={"out_dir": "/proc/rp_backups"}))
    assert not_a_folder.read_text() == "a file"


def test_it_fails_in_a_folder_it_cannot_write(production, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    # chmod does not stop root; an immutable folder does.
    if subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not supported on this file system")
    try:
        with pytest.raises(RunnerError, match=r"cannot write to the output folder .*not permitted"):
            backup.run(make_ctx(production=production, options={"out_dir": str(locked)}))
    finally:
        subprocess.run(["chattr", "-i", str(locked)], check=True)
    assert list(locked.iterdir()) == []


@contextlib.contextmanager
def _file_size_limit(limit: int):
    # RLIMIT_FSIZE makes write() fail (EFBIG) past ``limit`` bytes, even for root: the
    # same path through the runner as a full disk (ENOSPC).
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def test_it_keeps_nothing_when_the_disk_fills(production, tmp_path):
    ctx = make_ctx(production=production, options={"out_dir": str(tmp_path)})
    with _file_size_limit(64 * 1024), pytest.raises(RunnerError) as e:
        backup.run(ctx)
    assert "could not write the backup to" in str(e.value)
    assert "File too large" in str(e.value) and "No backup was kept" in str(e.value)
    assert list(tmp_path.iterdir()) == []
    assert child_processes("pg_dump") == []


def _streaming(folder) -> bool:
    """True once pg_dump's output has reached its temporary file."""
    return any(p.name.endswith(".partial") and p.stat().st_size > 0 for p in folder.iterdir())


def test_it_keeps_nothing_when_cancelled_midway(production, tmp_path):
    seen = []

    def cancelled():
        seen.append(_streaming(tmp_path))
        return seen[-1]

    ctx = make_ctx(production=production, options={"out_dir": str(tmp_path)}, cancelled=cancelled)
    with pytest.raises(JobCancelled):
        backup.run(ctx)
    assert seen[-1] is True
    assert list(tmp_path.iterdir()) == []
    assert child_processes("pg_dump") == []


def test_it_keeps_nothing_when_pg_dump_is_killed(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    killed = []

    def cancelled():
        if _streaming(out):
            for pid in child_processes("pg_dump"):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        return False

    with production_database(tmp_path / "prod") as prod:
        # More output than the pipe holds, so pg_dump is still writing after one chunk.
        prod.execute(
            "INSERT INTO app.orders (account_id, amount, note) "
            "SELECT 1, 1, repeat('x', 200) FROM generate_series(1, 20000)"
        )
        ctx = make_ctx(production=prod, options={"out_dir": str(out)}, cancelled=cancelled)
        killed_message = r"pg_dump was killed \(SIGKILL\).*no backup was kept"
        with pytest.raises(RunnerError, match=killed_message):
            backup.run(ctx)
    assert killed
    assert list(out.iterdir()) == []


def test_it_counts_in_the_dumps_snapshot_while_rows_are_inserted(tmp_path):
    with production_database(tmp_path / "prod") as prod:
        writer = psycopg.connect(prod.url, autocommit=True)
        inserted = []

        def cancelled():
            # Called between steps (after the snapshot is exported) and while streaming.
            writer.execute("INSERT INTO app.orders (account_id, amount) VALUES (1, 1)")
            writer.execute("INSERT INTO app.empty_audit (at) VALUES (now())")
            inserted.append(1)
            return False

        out = tmp_path / "out"
        with writer:
            result = backup.run(
                make_ctx(production=prod, options={"out_dir": str(out)}, cancelled=cancelled)
            )
        assert result.ok
        assert inserted
        manifest = ManifestFile.load(manifest_path(_only_file(out)))
        counts = {t.qualified: t.rows for t in manifest.tables}
        assert counts == EXPECTED_ROWS
        assert prod.count("app.orders") == EXPECTED_ROWS["app.orders"] + len(inserted)
        dump = _only_file(out).read_bytes()
        copy = dump.split(b"COPY app.empty_audit", 1)[1].split(b"\n\\.\n", 1)[0]
        assert copy.count(b"\n") == 0  # the COPY line, then its end: no rows


def test_it_writes_the_custom_format(production, tmp_path):
    recorder = Recorder()
    result = backup.run(
        make_ctx(
            production=production,
            recorder=recorder,
            options={"out_dir": str(tmp_path), "format": "custom", "snapshot_ref": "bk-123"},
        )
    )
    dump = _only_file(tmp_path)
    assert dump.name.endswith("_pre_migration.dump")
    assert dump.read_bytes()[:5] == b"PGDMP"
    manifest = ManifestFile.load(manifest_path(dump))
    assert manifest.format == "custom" and manifest.snapshot_ref == "bk-123"
    assert result.data["path"] == str(dump)
    assert "pg_dump 1" in recorder.text()
