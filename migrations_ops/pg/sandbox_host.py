"""The sandbox's side of the host: its folders, and what the machine must have for it.

Every job's folder lives under ``PORTAL_SANDBOX_DIR`` (``jobs/``), beside the folders
the sandboxes share (``templates/``, ``ext/``); all of them are owned by the worker's
user and never a link. ``prerequisite_problems`` says what bubblewrap needs that this
machine lacks, for the system checks and the health page.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path

from migrations_ops.pg import installations
from migrations_ops.pg.job_folder import DEFAULT_PATH, SandboxConfig, SandboxError


def running_as_root() -> bool:
    return os.geteuid() == 0


# -- the folders -------------------------------------------------------------------------


def own_folder(path: Path, mode: int) -> Path:
    """Create ``path`` (one level) owned by us; refuse a link or someone else's folder."""
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=mode)
    info = path.lstat()
    if not path.is_dir() or path.is_symlink() or info.st_uid != os.geteuid():
        raise SandboxError(
            f"the sandbox folder {path} is not a folder owned by this user: remove it or "
            "set PORTAL_SANDBOX_DIR to a folder only the portal's workers write"
        )
    os.chmod(path, mode)
    return path


# A git checkout's .git may hold tokens (remote URLs, credential helpers).
NEVER_COPIED = frozenset({".git"})


def folder_size(path: Path, limit: int) -> int:
    """Bytes under ``path`` (links not followed), stopping once past ``limit``."""
    total = 0
    stack = [path]
    while stack and total <= limit:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                else:
                    total += entry.stat(follow_symlinks=False).st_blocks * 512
            except OSError:
                continue
    return total


FRESH_SECONDS = 60


def remove_stale_folders(root: Path) -> list[str]:
    """Remove job folders whose sandbox is gone (a killed worker); returns their names.

    A live sandbox holds an exclusive lock on its folder's ``.lock`` file. A folder made in
    the last minute is left alone whatever its lock says: its sandbox may be between
    making its lock file and locking it (two jobs starting at once removed each other's
    folder there, and the job failed with FileNotFoundError).
    """
    removed: list[str] = []
    jobs = root / "jobs"
    if not jobs.is_dir():
        return removed
    for entry in os.scandir(jobs):
        if not entry.is_dir(follow_symlinks=False):
            continue
        with contextlib.suppress(OSError):
            if time.time() - entry.stat(follow_symlinks=False).st_mtime < FRESH_SECONDS:
                continue  # being made right now
        lock_path = Path(entry.path) / ".lock"
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_NOFOLLOW)
        except OSError:
            fd = -1
        try:
            if fd >= 0:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.name)
        finally:
            if fd >= 0:
                os.close(fd)
    return removed


def shared_folder(config: SandboxConfig, name: str) -> Path:
    root = own_folder(config.root, 0o755)
    return own_folder(root / name, 0o755)


def tool_copy(config: SandboxConfig, folder: Path, version: str) -> Path:
    """``folder`` (PostgreSQL's programs from the portal's virtualenv) as the sandboxes
    bind it: a copy in their shared ``tools/`` folder, made once per folder and version,
    its files hard-linked where the file system allows. A bind mount's source is named
    inside (/proc/self/mountinfo): bound from the virtualenv, it would tell bundle content
    where the portal lives. Folders side by side on the host (a wheel's package and its
    ``.libs``) are side by side in the copy too."""
    tools = shared_folder(config, "tools")
    key = hashlib.sha256(f"{folder.parent}\0{version}".encode()).hexdigest()[:16]
    parent = tools / key
    with contextlib.suppress(FileExistsError):
        parent.mkdir(mode=0o755)
    final = parent / folder.name
    if final.is_dir():
        return final
    tmp = parent / f".{folder.name}.tmp-{secrets.token_hex(4)}"
    try:
        shutil.copytree(folder, tmp, symlinks=True, copy_function=_link_or_copy)
        os.rename(tmp, final)
    except OSError:
        if not final.is_dir():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


# -- what the machine must have ---------------------------------------------------------


def check_prerequisites(config: SandboxConfig) -> None:
    """Raise SandboxError naming what is missing for the bwrap sandbox."""
    problems = prerequisite_problems(config)
    if problems:
        raise SandboxError("the sandbox cannot run: " + "; ".join(problems))


def prerequisite_problems(config: SandboxConfig) -> list[str]:
    """What the bwrap sandbox lacks on this machine (empty when it can run)."""
    return list(_problems(config.uid, os.geteuid()))


@functools.cache
def _problems(uid: int, euid: int) -> tuple[str, ...]:
    problems = []
    for tool, package in (("bwrap", "bubblewrap"), ("prlimit", "util-linux")):
        if shutil.which(tool) is None:
            problems.append(f"{tool} is not installed (Debian package {package})")
    if euid == 0 and shutil.which("setpriv") is None:
        problems.append("setpriv is not installed (Debian package util-linux)")
    if euid == 0 and uid == 0:
        problems.append("PORTAL_SANDBOX_UID must not be 0")
    if not installations.installations():
        problems.append("no PostgreSQL server installation (initdb) was found")
    if problems:
        return tuple(problems)
    argv = ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns",
            "--die-with-parent", "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin",
            "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--", "/bin/true"]  # fmt: skip
    if euid == 0:
        argv = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                "--no-new-privs", *argv]  # fmt: skip
    try:
        done = subprocess.run(
            argv, capture_output=True, timeout=30, check=False, env={"PATH": DEFAULT_PATH}
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return (f"bwrap could not be started: {e}",)
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip() or f"exit {done.returncode}"
        return (
            f"bwrap cannot create a sandbox here ({said}); user namespaces may be disabled "
            "(sysctl kernel.unprivileged_userns_clone / user.max_user_namespaces)",
        )
    return ()
