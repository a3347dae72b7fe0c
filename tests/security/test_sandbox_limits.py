"""The sandbox's limits, from the hostile-bundle corpus: a disk filler, a memory hog and a
fork bomb end inside the sandbox, and what the cluster writes outside its tmpfs is capped."""

from __future__ import annotations

import dataclasses
import re
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from migrations_ops.pg import cgroups
from migrations_ops.pg.sandbox import Sandbox, SandboxConfig, SandboxError
from migrations_ops.runners import commands
from migrations_ops.runners.base import RunContext


@pytest.fixture
def small(tmp_path):
    """A sandbox with small limits, so the tests hit them quickly."""
    config = dataclasses.replace(
        SandboxConfig.from_settings(),
        tmpfs_mb=64,
        memory_mb=256,
        max_processes=64,
        folder_limit_mb=16,
    )
    with Sandbox(config, purpose="limits") as box:
        yield box


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _processes(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_a_disk_filler_runs_out_of_its_tmpfs_not_the_hosts_disk(small):
    done = small.run(
        ["/bin/sh", "-c", "dd if=/dev/zero of=/tmp/fill bs=1M count=1000 2>&1; echo rc=$?"],
        timeout=60,
    )
    out = done.stdout.decode()
    assert "No space left on device" in out
    assert "rc=0" not in out
    # dd says how much it wrote before the tmpfs (64 MB, memory) was full.
    found = re.search(r"(\d+) bytes", out)
    assert found is not None, out
    written = int(found.group(1))
    assert written <= 64 * 1024 * 1024


@pytest.mark.parametrize("folder", ["/", "/job", "/dev", "/dev/shm"])
def test_a_disk_filler_finds_no_folder_outside_its_limits(small, folder):
    """Only size-limited places may be written: the root bwrap builds, /job (around the
    job's mounts) and /dev are memory without a size of their own (bounded by the job's
    cgroup at best, the host's memory without one)."""
    done = small.run(
        ["/bin/sh", "-c", f"dd if=/dev/zero of={folder}/fill bs=1M count=200 2>&1; echo rc=$?"],
        timeout=60,
    )
    out = done.stdout.decode()
    found = re.search(r"(\d+) bytes", out)
    written = int(found.group(1)) if found else 0
    assert written <= 64 * 1024 * 1024, out


def test_the_cluster_cannot_fill_the_disk_through_its_data_folder(small):
    with psycopg.connect(small.server_url(), autocommit=True) as conn:
        conn.execute("CREATE TABLE fill (t text)")
        # Out of space: the statement fails, or PostgreSQL stops when WAL cannot be written.
        with pytest.raises(psycopg.Error):
            conn.execute(
                "INSERT INTO fill SELECT repeat(md5(g::text), 2000) "
                "FROM generate_series(1, 100000) g"
            )


def test_writing_files_outside_the_database_stops_the_sandbox(small):
    with psycopg.connect(small.server_url(), autocommit=True) as conn:
        for i in range(40):
            try:
                target = f"/job/sock/fill{i}"
                conn.execute(
                    sql.SQL(
                        "COPY (SELECT repeat('x', 1000000) FROM generate_series(1, 2)) TO {}"
                    ).format(sql.Literal(target))
                )
            except psycopg.OperationalError:
                break  # the watchdog stopped the cluster
            time.sleep(0.1)
    deadline = time.monotonic() + 10
    while small.violation is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert small.violation and "more than 16 MB" in small.violation
    with pytest.raises(SandboxError, match="more than 16 MB"):
        small.run(["/bin/true"])


def test_a_memory_hog_is_stopped_by_its_limit(small):
    done = small.run(
        ["/usr/bin/python3", "-c", "x = bytearray(1024 * 1024 * 1024); print('allocated')"],
        timeout=60,
    )
    assert b"allocated" not in done.stdout
    assert b"MemoryError" in done.stderr


def test_a_memory_hog_in_sql_fails_its_statement_not_the_worker(small):
    with (
        psycopg.connect(small.server_url(), autocommit=True) as conn,
        pytest.raises(psycopg.Error, match="out of memory"),
    ):
        conn.execute("SET work_mem = '2GB'")
        conn.execute(
            "SELECT count(*) FROM (SELECT DISTINCT g FROM generate_series(1, 20000000) g) s"
        )
    # The cluster is still there for the rest of the job.
    with psycopg.connect(small.server_url(), autocommit=True) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_fork_bomb_is_capped_and_ends_with_its_command(small, tmp_path):
    marker = f"rp-forkbomb-{uuid.uuid4().hex[:8]}"
    (tmp_path / "bomb.py").write_text(
        "import os, time\n"
        "while True:\n"
        "    try:\n"
        "        os.fork()\n"
        "    except OSError:\n"
        "        time.sleep(0.05)\n"
    )
    small.add_content(tmp_path)
    lines: list[tuple[str, str]] = []
    ctx = RunContext(
        repo_dir=tmp_path,
        options={"commands": [["python3", "bomb.py", marker]], "timeout_seconds": 3},
        log=lambda stream, text: lines.append((stream, text)),
        sandbox=small,
    )

    result = commands.run(ctx)

    [outcome] = result.data["commands"]
    assert outcome["status"] == "timed_out"
    for _ in range(60):
        if not _processes(marker):
            break
        time.sleep(0.1)
    assert _processes(marker) == []


cgroups_only = pytest.mark.skipif(
    not cgroups.available(), reason="this worker may not make cgroups: prlimit alone applies"
)


@cgroups_only
def test_each_job_runs_in_a_cgroup_of_its_own(small):
    marker = f"rp-cgroup-{uuid.uuid4().hex[:8]}"
    proc = small.popen(["/usr/bin/python3", "-c", "import time; time.sleep(30)", marker])
    try:
        sleeping: list[int] = []
        for _ in range(100):
            sleeping = [
                p for p in _processes(marker) if _cmdline(p).startswith(b"/usr/bin/python3")
            ]
            if sleeping:
                break
            time.sleep(0.1)
        [pid] = sleeping
        groups = Path(f"/proc/{pid}/cgroup").read_text()
        assert f"release-portal/{small.folder.name}" in groups
    finally:
        proc.kill()
        proc.wait()
    assert small.describe()["limits"].startswith("cgroup (")


@cgroups_only
def test_a_fork_bomb_in_one_job_leaves_the_other_jobs_room(small, tmp_path):
    marker = f"rp-forkbomb-{uuid.uuid4().hex[:8]}"
    bomb = small.popen(
        ["/usr/bin/python3", "-c",
         "import os, sys, time\nwhile True:\n    try:\n        os.fork()\n"
         "    except OSError:\n        time.sleep(0.05)\n", marker],
    )  # fmt: skip
    try:
        # Wait until the bomb has (nearly) reached its job's process limit.
        near_limit = small.config.max_processes - 8
        for _ in range(200):
            if len(_processes(marker)) >= near_limit:
                break
            time.sleep(0.1)
        assert len(_processes(marker)) >= near_limit
        with Sandbox(small.config, purpose="neighbour") as other:
            results = [other.run(["/bin/echo", "ok"], timeout=30) for _ in range(10)]
        assert [r.stdout for r in results] == [b"ok\n"] * 10
    finally:
        bomb.kill()
        bomb.wait()
    for _ in range(60):
        if not _processes(marker):
            break
        time.sleep(0.1)
    assert _processes(marker) == []
