"""Job folders of the sandbox: what a starting sandbox may remove of the others'."""

from __future__ import annotations

import fcntl
import os
import time

from migrations_ops.pg.sandbox_host import remove_stale_folders


def _job_folder(root, name, *, age: float = 0.0, locked: bool = False) -> int:
    """A job folder with its lock file; returns the lock's descriptor (held if ``locked``)."""
    folder = root / "jobs" / name
    folder.mkdir(parents=True)
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    if locked:
        fcntl.flock(fd, fcntl.LOCK_EX)
    if age:
        then = time.time() - age
        os.utime(folder, (then, then))
    return fd


def test_a_folder_being_made_is_not_taken_for_a_dead_jobs(tmp_path):
    """Two jobs starting at once: one had made its folder and lock file but not locked it
    yet when the other, sweeping dead jobs' folders, removed it; the first job then failed
    with FileNotFoundError (seen in the side-by-side dry-run test)."""
    starting = _job_folder(tmp_path, "starting")  # its lock file made, not locked yet
    running = _job_folder(tmp_path, "running", age=3600, locked=True)
    dead = _job_folder(tmp_path, "dead", age=180)  # its worker was killed
    try:
        assert remove_stale_folders(tmp_path) == ["dead"]
        assert sorted(os.listdir(tmp_path / "jobs")) == ["running", "starting"]
    finally:
        for fd in (starting, running, dead):
            os.close(fd)
