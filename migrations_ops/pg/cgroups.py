"""Per-job memory and process limits in a cgroup, where the worker may make one.

``prlimit`` limits each process, and its process limit counts every process of the
sandbox's uid, so one job's fork bomb could starve another's. A cgroup per job bounds
the job as a whole (memory, tmpfs pages included, and the number of processes) and
nothing else. Made under the worker's own cgroup: cgroup v1's ``memory`` and ``pids``
hierarchies, or a cgroup v2 tree with those controllers delegated. Where neither can be
written (a non-root worker without delegation), ``create`` returns False and the sandbox
keeps to prlimit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import time
from pathlib import Path

logger = logging.getLogger(__name__)

ROOT = Path("/sys/fs/cgroup")
GROUP = "release-portal"


def _own_paths() -> dict[str, str]:
    """This process's cgroup path per v1 controller, and "" for v2 (from /proc/self/cgroup)."""
    paths: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return paths
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            paths[name] = path
    return paths


class JobCgroup:
    """One job's cgroup(s); ``wrap`` puts a command into them before it starts."""

    def __init__(self, name: str, *, memory_bytes: int, max_pids: int) -> None:
        self.name = name
        self.memory_bytes = memory_bytes
        self.max_pids = max_pids
        self.folders: list[Path] = []
        self.controllers: list[str] = []

    def create(self) -> bool:
        """Make the cgroup; False (and nothing made) when this host does not allow it."""
        paths = _own_paths()
        try:
            if (ROOT / "cgroup.controllers").is_file() and "" in paths:
                self._create_v2(paths[""])
            else:
                self._create_v1(paths)
        except OSError as e:
            logger.info("sandbox: no cgroup for %s (%s); prlimit only", self.name, e)
            self.remove()
            return False
        return bool(self.controllers)

    def _create_v1(self, paths: dict[str, str]) -> None:
        for controller, limit_file, value in (
            ("pids", "pids.max", self.max_pids),
            ("memory", "memory.limit_in_bytes", self.memory_bytes),
        ):
            base = ROOT / controller
            if controller not in paths or not base.is_dir():
                continue
            folder = base / paths[controller].lstrip("/") / GROUP / self.name
            folder.mkdir(parents=True)
            self.folders.append(folder)
            (folder / limit_file).write_text(str(value))
            self.controllers.append(controller)

    def _create_v2(self, own: str) -> None:
        parent = ROOT / own.lstrip("/") / GROUP
        parent.mkdir(exist_ok=True)
        # The parent must hand both controllers down; this fails where they are not
        # delegated to us (then: prlimit only).
        (parent / "cgroup.subtree_control").write_text("+memory +pids")
        folder = parent / self.name
        folder.mkdir()
        self.folders.append(folder)
        (folder / "pids.max").write_text(str(self.max_pids))
        (folder / "memory.max").write_text(str(self.memory_bytes))
        self.controllers += ["pids", "memory"]

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv``, entering the job's cgroup(s) first (as the worker, before setpriv)."""
        if not self.folders:
            return argv
        joins = " && ".join(
            f"echo $$ > {shlex.quote(str(f / 'cgroup.procs'))}" for f in self.folders
        )
        return ["/bin/sh", "-c", f'{joins} && exec "$@"', "sh", *argv]

    def remove(self) -> None:
        """Remove the cgroup(s) once their processes are gone (a few tries)."""
        for folder in reversed(self.folders):
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)
        self.folders = []

    def describe(self) -> str:
        return "cgroup (" + ", ".join(self.controllers) + ")" if self.controllers else "prlimit"


def available() -> bool:
    """Can this worker make job cgroups? (For ``manage.py check`` and the README.)"""
    probe = JobCgroup(f"probe-{os.getpid()}", memory_bytes=1 << 30, max_pids=64)
    with contextlib.suppress(Exception):
        made = probe.create()
        probe.remove()
        return made
    return False
