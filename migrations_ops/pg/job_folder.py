"""What both sandbox modes share: ``sandbox.Sandbox`` (bubblewrap) and
``unsandboxed.Unsandboxed`` (``PORTAL_SANDBOX=off``).

Their configuration and error, and ``JobFolder``: the job's folder of files, the fixed
environment every process gets (never the worker's own), and one way to start processes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from migrations_ops.pg.bounded_output import capture

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


class SandboxError(Exception):
    """The sandbox could not do what was asked; the message says why and what to do."""


@dataclass(frozen=True)
class SandboxConfig:
    """How sandboxes are made; ``from_settings`` reads the portal's settings."""

    mode: str = "bwrap"  # "bwrap" or "off"
    root: Path = field(default_factory=lambda: default_root())
    uid: int = 61000  # used when the worker runs as root
    tmpfs_mb: int = 2048  # cluster data, and each command's /tmp and /work
    memory_mb: int = 2048  # RLIMIT_DATA per process
    max_processes: int = 256  # RLIMIT_NPROC
    file_size_mb: int = 1100  # RLIMIT_FSIZE: above PostgreSQL's 1 GB segments
    folder_limit_mb: int = 64  # what the cluster may write into the job folder
    statement_timeout_s: int = 900
    temp_file_limit_mb: int = 1024
    pg_major: int | None = None  # the default installation when there is no target
    extra_bin_dirs: tuple[Path, ...] = ()

    @classmethod
    def from_settings(cls) -> SandboxConfig:
        from django.conf import settings

        extra = tuple(Path(p) for p in [os.environ.get("PG_BIN_DIR", "")] if p)
        return cls(
            mode=settings.PORTAL_SANDBOX,
            root=Path(settings.PORTAL_SANDBOX_DIR),
            uid=settings.PORTAL_SANDBOX_UID,
            tmpfs_mb=settings.PORTAL_SANDBOX_TMPFS_MB,
            memory_mb=settings.PORTAL_SANDBOX_MEMORY_MB,
            max_processes=settings.PORTAL_SANDBOX_MAX_PROCESSES,
            statement_timeout_s=settings.PORTAL_SANDBOX_STATEMENT_TIMEOUT_SECONDS,
            temp_file_limit_mb=settings.PORTAL_SANDBOX_TEMP_FILE_LIMIT_MB,
            pg_major=settings.PORTAL_SANDBOX_PG_MAJOR,
            extra_bin_dirs=extra,
        )


def default_root() -> Path:
    return Path(tempfile.gettempdir()) / f"release-portal-sandbox-{os.geteuid()}"


def copy_tree(src: Path, dst: Path, exclude: frozenset[str] = frozenset()) -> int:
    """Copy folders and regular files only (links and devices are left out); count files."""
    copied = 0
    dst.mkdir(mode=0o755, exist_ok=True)
    for entry in os.scandir(src):
        if entry.is_symlink() or entry.name in exclude:
            continue
        target = dst / entry.name
        if entry.is_dir(follow_symlinks=False):
            copied += copy_tree(Path(entry.path), target)
        elif entry.is_file(follow_symlinks=False):
            shutil.copyfile(entry.path, target, follow_symlinks=False)
            mode = entry.stat(follow_symlinks=False).st_mode
            os.chmod(target, 0o755 if mode & 0o111 else 0o644)
            copied += 1
    return copied


class JobFolder:
    """What both modes share: a folder for the job's files, a fixed environment, ``popen``
    and ``run``.

    Subclasses give ``folder``, ``command`` and ``HOME``; use them as context managers."""

    HOME: str
    folder: Path | None
    violation: str | None = None
    _content_root: Path | None = None

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _in(self) -> Path:
        if self.folder is None:
            raise SandboxError("the sandbox is not open")
        return self.folder / "in"

    def new_file(self, name: str) -> Path:
        """A host path in the job folder the worker writes and the sandbox reads."""
        path = self._in() / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def add_file(self, name: str, data: bytes) -> Path:
        path = self.new_file(name)
        path.write_bytes(data)
        path.chmod(0o644)
        return path

    def add_tree(self, src: Path, name: str = "src") -> Path:
        """Copy ``src`` into the job folder (read-only inside); returns its host path."""
        dst = self._in() / name
        copy_tree(src, dst)
        return dst

    @property
    def has_content(self) -> bool:
        return self._content_root is not None

    def _content(self) -> Path:
        """The job's content (``add_content``); a SandboxError when it has none."""
        if self._content_root is None:
            raise SandboxError("the job has no content to run")
        return self._content_root

    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The whole environment of a process run for the job: fixed names plus ``extra``."""
        env = {"PATH": DEFAULT_PATH, "HOME": self.HOME, "LANG": "C.UTF-8", "TZ": "UTC"}
        env.update(extra or {})
        return env

    def command(
        self, argv: Sequence[str], *, cwd: str | None = None, writable_copy: str | None = None
    ) -> list[str]:
        """The host argv that runs ``argv`` for the job."""
        raise NotImplementedError

    def _host_cwd(self, cwd: str | None) -> str | None:
        """Where on the host the process starts: ``cwd`` itself, unless ``command`` enters
        it on its own."""
        return cwd

    def _track(self, proc: subprocess.Popen[Any]) -> None:
        """Told of every process ``popen`` starts."""

    def _refuse_if_violated(self) -> None:
        if self.violation:
            raise SandboxError(self.violation)

    def popen(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        writable_copy: str | None = None,
        stdin: Any = subprocess.DEVNULL,
        stdout: Any = subprocess.PIPE,
        stderr: Any = subprocess.PIPE,
        **kwargs: Any,
    ) -> subprocess.Popen[Any]:
        """Start ``argv`` for the job; ``env`` is all it gets (plus PATH, HOME, LANG)."""
        self._refuse_if_violated()
        proc: subprocess.Popen[Any] = subprocess.Popen(
            self.command(argv, cwd=cwd, writable_copy=writable_copy),
            env=self.environment(env),
            cwd=self._host_cwd(cwd),
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            **kwargs,
        )
        self._track(proc)
        return proc

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        input: bytes | None = None,
        timeout: float | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``argv`` to the end; on timeout its process tree is killed.

        Its output is bundle content's to choose: at most ``OUTPUT_LIMIT_BYTES`` of each
        stream is kept, and a process printing more is stopped (``bounded_output``)."""
        stdin = subprocess.PIPE if input is not None else subprocess.DEVNULL
        proc = self.popen(argv, env=env, cwd=cwd, stdin=stdin)
        out, err = capture(proc, input=input, timeout=timeout)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
