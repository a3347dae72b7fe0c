"""The sandbox: where bundle content (migrations, tests, fixtures, seeds, scripts) runs.

Bundle content comes from release engineers and CI tokens and is untrusted. Everything
that executes it runs here, never with the portal's database, files, environment or
network:

- **bubblewrap** (``bwrap``) with every namespace unshared: no network (only a loopback
  of its own), its own PIDs (no ``/proc`` of the host), no further user namespaces, all
  capabilities dropped. A worker running as root first drops to a dedicated uid
  (``setpriv --reuid``): started by root, ``bwrap --unshare-user --uid N`` would still
  map to host root. A non-root worker relies on the user namespace alone.
- **A filesystem view of only what the job needs**: ``/usr`` read-only (system tools,
  libraries, Debian's PostgreSQL), the wheel's PostgreSQL folders read-only, a synthetic
  ``/etc/passwd``, the job's folder (``/job/in``: the pinned content, dumps, read-only),
  a private ``/tmp`` on a size-limited tmpfs. Never the portal's checkout, its data
  folder, home, the host's ``/proc`` or the environment: every process gets an explicit
  environment.
- **An ephemeral PostgreSQL cluster started inside the sandbox** for the job's scratch
  databases, from a template cluster per installation copied to a size-limited tmpfs.
  Superuser inside it is harmless: it can reach nothing. The worker talks to it through
  the Unix socket in the job folder with ``require_auth=scram-sha-256`` and a random
  password set for this job: code in the sandbox can write that folder and could swap
  the socket for a link to another server, which would then fail SCRAM's mutual check.
  The worker never reads anything else back from the job folder.
- **Limits**: a cgroup per job where the worker may make one (memory including tmpfs
  pages, number of processes: cgroups.py), per process ``prlimit`` (data segment,
  processes, file size, no core dumps), tmpfs sizes, ``statement_timeout`` and
  ``temp_file_limit`` on the cluster, the job's time limit, and a watchdog on what the
  cluster writes into the job folder; every process of the sandbox dies with it (PID
  namespace, ``--die-with-parent``).

The worker reads staging or production (``pg_dump``, catalog reads) outside the sandbox
with the target's credentials and passes only the dump in.

``PORTAL_SANDBOX=off`` (a container without user namespaces) runs bundle content only
when the operator accepts it (``PORTAL_ACCEPT_UNSANDBOXED=1``) against a dedicated,
unprivileged scratch server (``unsandboxed.py`` checks it); the commands runner is then
refused.

The template clusters each job's cluster copies are ``sandbox_template.py``. The host's
side (the sandbox folders, what the machine must have) is ``sandbox_host.py``;
the cluster inside a sandbox and how it is secured, ``sandbox_cluster.py``.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import shutil
import stat
import subprocess
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

from migrations_ops.pg import installations
from migrations_ops.pg.cgroups import JobCgroup
from migrations_ops.pg.installations import Installation
from migrations_ops.pg.job_folder import (
    JobFolder,
    SandboxConfig,
    SandboxError,
    copy_tree,
)
from migrations_ops.pg.sandbox_cluster import INNER_SOCK, PG_PORT, Cluster, pump_tail, secure
from migrations_ops.pg.sandbox_host import (
    NEVER_COPIED,
    check_prerequisites,
    folder_size,
    own_folder,
    remove_stale_folders,
    running_as_root,
    tool_copy,
)

logger = logging.getLogger(__name__)

INNER_JOB = "/job"
INNER_IN = "/job/in"
INNER_WORK = "/work"
INNER_TMP = "/tmp"  # noqa: S108 - the sandbox's own tmpfs, seen by nothing else
INNER_SHM = "/dev/shm"  # noqa: S108 - likewise
HOST_CWD = "/"  # where the worker starts a sandbox: names nothing of the portal's
INNER_TOOLS = "/opt/pg"  # PostgreSQL's programs from outside /usr (the wheel's)
_SOCKET_MAX = 100  # sun_path holds 108 bytes; libpq adds "/.s.PGSQL.5432"


# -- the sandbox ----------------------------------------------------------------------------


class Sandbox(JobFolder):
    """One job's sandbox (see the module docstring). Use as a context manager."""

    isolated = True
    HOME = INNER_TMP

    def __init__(
        self, config: SandboxConfig, *, purpose: str = "job", time_limit: float | None = None
    ) -> None:
        self.config = config
        # The job's time limit: a statement blocking the worker inside libpq would not see
        # Celery's soft limit (a signal), so the sandbox stops everything itself.
        self.time_limit = time_limit
        self.timed_out = False
        self.purpose = "".join(c if c.isalnum() else "_" for c in purpose.lower())[:16]
        self.folder: Path | None = None
        self._lock_fd = -1
        self._cluster: Cluster | None = None
        self._procs: list[subprocess.Popen[bytes]] = []
        self._procs_lock = threading.Lock()
        self._watchdog: threading.Thread | None = None
        self._closing = threading.Event()
        self._started = time.monotonic()
        self.violation: str | None = None
        self._content_root: Path | None = None
        self._content_copied = False
        self._copied: dict[Path, Path] = {}
        self._cgroup: JobCgroup | None = None

    # lifecycle

    def open(self) -> None:
        check_prerequisites(self.config)
        root = own_folder(self.config.root, 0o755)
        jobs = own_folder(root / "jobs", 0o755)
        with contextlib.suppress(OSError):
            remove_stale_folders(root)
        name = f"{self.purpose}-{secrets.token_hex(6)}"
        folder = jobs / name
        folder.mkdir(mode=0o755)
        self.folder = folder
        self._lock_fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        (folder / "in").mkdir(mode=0o755)
        sock = folder / "sock"
        sock.mkdir(mode=0o700)
        etc = folder / "etc"
        etc.mkdir(mode=0o755)
        uid = self.inner_uid
        (etc / "passwd").write_text(
            f"root:x:0:0:root:/root:/bin/sh\nsandbox:x:{uid}:{uid}:sandbox:{INNER_TMP}:/bin/sh\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
        )
        (etc / "group").write_text(f"root:x:0:\nsandbox:x:{uid}:\nnogroup:x:65534:\n")
        for f in (etc / "passwd", etc / "group"):
            f.chmod(0o644)
        if running_as_root():
            os.chown(sock, uid, uid)
        if len(str(sock)) + len("/.s.PGSQL.5432") > _SOCKET_MAX:
            raise SandboxError(
                f"the sandbox folder {self.config.root} is too deep for a Unix socket path: "
                "set PORTAL_SANDBOX_DIR to a shorter path (e.g. /var/tmp/rp-sandbox)"
            )
        mb = 1024 * 1024
        cgroup = JobCgroup(
            name,
            memory_bytes=(self.config.memory_mb + self.config.tmpfs_mb) * mb,
            max_pids=self.config.max_processes,
        )
        if cgroup.create():
            self._cgroup = cgroup
        self._started = time.monotonic()
        self._watchdog = threading.Thread(target=self._watch, daemon=True)
        self._watchdog.start()

    def close(self) -> None:
        self._closing.set()
        self._kill_all()
        if self._cgroup is not None:
            self._cgroup.remove()
            self._cgroup = None
        if self._watchdog is not None:
            self._watchdog.join(timeout=5)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    @property
    def inner_uid(self) -> int:
        return self.config.uid if running_as_root() else os.geteuid()

    def _folder(self) -> Path:
        if self.folder is None:
            raise SandboxError("the sandbox is not open")
        return self.folder

    # content

    def add_content(self, root: Path) -> None:
        """The job's content (repository root); copied in when first needed."""
        self._content_root = Path(root).resolve()
        self._content_copied = False

    def content_path(self) -> Path:
        """The host path of the job's content copy inside the job folder."""
        root = self._content()
        dst = self._folder() / "in" / "src"
        if not self._content_copied:
            copy_tree(root, dst, exclude=NEVER_COPIED)
            self._content_copied = True
        return dst

    def inside(self, host_path: Path | str) -> str:
        """The sandbox's path of a file the worker put in the job folder."""
        path = Path(host_path)
        base = self._folder() / "in"
        if self._content_root is not None and not path.is_relative_to(base):
            resolved = path.resolve()
            if resolved.is_relative_to(self._content_root):
                path = self.content_path() / resolved.relative_to(self._content_root)
        if not path.is_relative_to(base):
            path = self._copy_in(path)
        rel = path.relative_to(base)
        return f"{INNER_IN}/{rel}" if str(rel) != "." else INNER_IN

    def _copy_in(self, path: Path) -> Path:
        """A copy of one regular file the worker chose (e.g. a fixture given on the
        command line), so the sandbox never sees the folder it came from."""
        if path in self._copied:
            return self._copied[path]
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as e:
            raise SandboxError(f"{path.name} cannot be read: {e.strerror}") from None
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise SandboxError(f"{path.name} is not a regular file")
            data = f.read()
        copy = self.add_file(f"files/{len(self._copied):03d}/{path.name}", data)
        self._copied[path] = copy
        return copy

    # processes

    def _base_argv(self) -> list[str]:
        c = self.config
        argv: list[str] = []
        if running_as_root():
            argv += [
                "setpriv", f"--reuid={c.uid}", f"--regid={c.uid}", "--clear-groups",
                "--no-new-privs", "--inh-caps=-all",
            ]  # fmt: skip
        mb = 1024 * 1024
        argv += [
            "prlimit", f"--nproc={self._uid_process_limit()}", f"--data={c.memory_mb * mb}",
            f"--fsize={c.file_size_mb * mb}", "--core=0", "--nofile=1024", "--",
            "bwrap", "--unshare-all", "--unshare-user", "--disable-userns",
            "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--hostname", "sandbox",
            "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
            "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/sbin", "/sbin",
            "--proc", "/proc", "--dev", "/dev",
            # PostgreSQL's dynamic shared memory lives here: a tmpfs of its own size.
            "--size", str(c.tmpfs_mb * mb), "--tmpfs", INNER_SHM,
            "--size", str(c.tmpfs_mb * mb), "--tmpfs", INNER_TMP,
            "--dir", "/etc",
        ]  # fmt: skip
        folder = self._folder()
        argv += ["--ro-bind", str(folder / "etc" / "passwd"), "/etc/passwd"]
        argv += ["--ro-bind", str(folder / "etc" / "group"), "/etc/group"]
        for name in ("ld.so.cache", "ld.so.conf", "localtime", "nsswitch.conf"):
            if Path("/etc", name).exists():
                argv += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
        for name in ("ld.so.conf.d", "alternatives"):
            if Path("/etc", name).is_dir():
                argv += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
        argv += ["--ro-bind", str(folder / "in"), INNER_IN]
        for source, inner in self._tool_sources().items():
            argv += ["--ro-bind", str(source), inner]
        return argv

    @staticmethod
    def _sealed(argv: list[str]) -> list[str]:
        """``argv`` (bwrap's options, all mounts made) with the root and /dev read-only.

        bwrap builds both on tmpfs without a size, writable by the sandbox's uid: a
        process could fill them past every limit the sandbox sets (the cgroup's memory at
        best, the host's without one). Only the size-limited tmpfs mounts (/tmp, /work,
        /dev/shm, the cluster's data) and the socket folder stay writable."""
        return [*argv, "--remount-ro", "/dev", "--remount-ro", "/"]

    def _uid_process_limit(self) -> int:
        """RLIMIT_NPROC counts every process of the uid, all jobs together: with a job
        cgroup (pids.max per job) it is only a backstop, so one job's fork bomb does not
        starve the others; without one it is the job's limit."""
        if self._cgroup is not None and "pids" in self._cgroup.controllers:
            return max(self.config.max_processes * 16, 4096)
        return self.config.max_processes

    def _enter_cgroup(self, argv: list[str]) -> list[str]:
        return self._cgroup.wrap(argv) if self._cgroup is not None else argv

    def _tool_binds(self) -> dict[Path, str]:
        """Host folders of PostgreSQL's programs outside /usr, and where the sandbox shows
        them. An installation's (the wheel's, in the portal's virtualenv) go under
        ``INNER_TOOLS``, side by side as on the host (a package and its ``.libs``): its
        host path would tell bundle content where the portal lives (/proc/self/mountinfo
        names every mount's source). PG_BIN_DIR, the operator's, keeps its path."""
        binds: dict[Path, str] = {}
        parents: list[Path] = []
        for inst in installations.installations():
            for host in inst.binds:
                if host not in binds:
                    if host.parent not in parents:
                        parents.append(host.parent)
                    binds[host] = f"{INNER_TOOLS}/{parents.index(host.parent)}/{host.name}"
        for extra in self.config.extra_bin_dirs:
            if extra.is_dir() and not str(extra).startswith("/usr/") and extra not in binds:
                binds[extra] = str(extra)
        return binds

    def _tool_sources(self) -> dict[Path, str]:
        """What ``_base_argv`` binds where: an installation's folders from their copies
        (``tool_copy``), PG_BIN_DIR as it is."""
        versions = {
            host: inst.version for inst in installations.installations() for host in inst.binds
        }
        return {
            tool_copy(self.config, host, versions[host]) if host in versions else host: inner
            for host, inner in self._tool_binds().items()
        }

    def inner_tool(self, path: str) -> str:
        """The sandbox's path of a program (``path``, on the host) under a tool folder."""
        if path.startswith("/"):
            for host, inner in self._tool_binds().items():
                if Path(path).is_relative_to(host):
                    return inner + path[len(str(host)) :]
        return path

    def command(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        writable_copy: str | None = None,
        with_socket: bool = True,
    ) -> list[str]:
        """The host argv that runs ``argv`` inside the sandbox.

        ``writable_copy`` names a tree in ``/job/in`` copied to ``/work`` (a tmpfs) first,
        for commands that write where they run; ``cwd`` is then relative to ``/work``.
        """
        mb = 1024 * 1024
        outer = self._base_argv()
        if with_socket:
            outer += ["--ro-bind", str(self._folder() / "sock"), INNER_SOCK]
        inner = [self.inner_tool(argv[0]), *argv[1:]] if argv else []
        if writable_copy == "src":
            self.content_path()
        if writable_copy is not None:
            outer += ["--size", str(self.config.tmpfs_mb * mb), "--tmpfs", INNER_WORK]
            source = f"{INNER_IN}/{writable_copy}"
            where = f"{INNER_WORK}/{cwd}" if cwd else INNER_WORK
            inner = [
                "/bin/sh", "-c", 'cp -a "$0"/. /work/ && cd "$1" && shift && exec "$@"',
                source, where, *inner,
            ]  # fmt: skip
            outer += ["--chdir", "/"]
        else:
            outer += ["--chdir", cwd or INNER_TMP]
        return self._enter_cgroup([*self._sealed(outer), "--", *inner])

    def _host_cwd(self, cwd: str | None) -> str | None:
        # ``command`` enters ``cwd`` inside the sandbox. Outside, "/": the worker's own
        # folder (the portal's checkout) would reach it as PWD, which /bin/sh exports.
        return HOST_CWD

    def _track(self, proc: subprocess.Popen[Any]) -> None:
        with self._procs_lock:
            self._procs = [p for p in self._procs if p.poll() is None]
            self._procs.append(proc)

    def _kill_all(self) -> None:
        with self._procs_lock:
            procs = list(self._procs)
        if self._cluster is not None:
            procs.append(self._cluster.process)
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(OSError):
                    proc.kill()
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired, OSError):
                proc.wait(timeout=10)

    # the cluster

    @property
    def cluster_started(self) -> bool:
        return self._cluster is not None

    def cluster(
        self, *, target_major: int | None = None, preferred_major: int | None = None
    ) -> Cluster:
        """The job's PostgreSQL cluster, started on first use."""
        self._refuse_if_violated()
        if self._cluster is None:
            inst = installations.choose(
                target_major=target_major, preferred_major=preferred_major or self.config.pg_major
            )
            self._cluster = self._start_cluster(inst)
        return self._cluster

    def server_url(self, database: str = "postgres", **kwargs: Any) -> str:
        return self.cluster(**kwargs).url(database)

    def client_env(self, url: str) -> dict[str, str]:
        """libpq variables for a client in the sandbox to reach ``url`` (a database of
        this job's cluster, as the worker names it)."""
        cluster = self.cluster()
        dbname = psycopg.conninfo.conninfo_to_dict(url).get("dbname") or "postgres"
        return cluster.inner_env(str(dbname))

    def _start_cluster(self, inst: Installation) -> Cluster:
        from migrations_ops.pg.sandbox_template import ensure_template, pgtap_folder

        template = ensure_template(self.config, inst)
        folder = self._folder()
        mb = 1024 * 1024
        settings = {
            "listen_addresses": "",
            "unix_socket_directories": INNER_SOCK,
            "port": str(PG_PORT),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "40",
            "shared_buffers": "32MB",
            "max_wal_size": "256MB",
            "logging_collector": "off",
            "log_min_messages": "warning",
            "statement_timeout": f"{self.config.statement_timeout_s}s",
            "temp_file_limit": f"{self.config.temp_file_limit_mb}MB",
            "password_encryption": "scram-sha-256",
        }
        ext_dir = pgtap_folder(self.config, inst)
        binds: list[str] = []
        if ext_dir is not None:
            settings["extension_control_path"] = "$system:/pg/ext"
            binds += ["--ro-bind", str(ext_dir), "/pg/ext"]
        flags = [f"--{key}={value}" for key, value in settings.items()]
        script = (
            "cp -a /pg/template/. /pg/data/ && chmod 700 /pg/data && "
            'printf "local all all trust\\n" > /pg/data/pg_hba.conf && exec "$@"'
        )
        argv = [
            *self._sealed([
                *self._base_argv(),
                "--ro-bind", str(template), "/pg/template",
                "--size", str(self.config.tmpfs_mb * mb), "--tmpfs", "/pg/data",
                "--bind", str(folder / "sock"), INNER_SOCK,
                *binds,
                "--chdir", "/pg/data",
            ]),
            "--", "/bin/sh", "-c", script, "sh", self.inner_tool(inst.tool("postgres")),
            "-D", "/pg/data", *flags,
        ]  # fmt: skip
        proc = subprocess.Popen(
            self._enter_cgroup(argv),
            env=self.environment({}),
            cwd=HOST_CWD,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        tail: deque[str] = deque(maxlen=40)
        assert proc.stderr is not None
        threading.Thread(target=pump_tail, args=(proc.stderr, tail), daemon=True).start()
        cluster = Cluster(
            installation=inst,
            socket_dir=folder / "sock",
            password=secrets.token_hex(24),
            process=proc,
            log_tail=tail,
        )
        try:
            secure(cluster)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        return cluster

    # watchdog

    def _watch(self) -> None:
        """Stop everything when the job's time limit passes or the cluster writes too much
        into the job folder (the only host folder the sandbox can write)."""
        limit = self.config.folder_limit_mb * 1024 * 1024
        sock = self._folder() / "sock"
        while not self._closing.wait(0.5):
            if self.time_limit and time.monotonic() - self._started > self.time_limit:
                self.timed_out = True
                self.violation = (
                    f"the job ran past its time limit of {self.time_limit:g} s: everything "
                    "it started in the sandbox was stopped"
                )
            elif self._cluster is not None and folder_size(sock, limit) > limit:
                self.violation = (
                    f"the job wrote more than {self.config.folder_limit_mb} MB into its "
                    "folder outside the database: the sandbox was stopped. A migration or "
                    "test writing files on the server (COPY ... TO, lo_export) does this."
                )
            else:
                continue
            logger.warning("sandbox %s: %s", self.folder, self.violation)
            self._kill_all()
            return

    def describe(self) -> dict[str, Any]:
        """What the job ran with, for its result: mode, server version, extensions."""
        data: dict[str, Any] = {
            "mode": "bwrap",
            "limits": self._cgroup.describe() if self._cgroup is not None else "prlimit",
        }
        if self._cluster is not None:
            data |= self._cluster.describe()
        return data
