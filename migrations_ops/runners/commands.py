"""Runbook §3: "Run pnpm run lint, pnpm run typecheck, pnpm run test:unit, pnpm run test:auth,
and pnpm run test:rls."

Runs the project's allow-listed check commands on a writable copy of the job's content
(the pinned bundle, or a copy of the project's checkout without ``.git``), one after
another, and reports each: argv, status, exit code, duration and its last lines of output.
Every command runs even when an earlier one failed (as CI tools do); the check passes only
if all pass.

Promises:

- **No shell, ever.** A command is an argv list of strings; anything else is refused.
- **The repository's scripts are untrusted: they run in the sandbox** (migrations_ops.pg.
  sandbox): no network, no files of the portal, an unprivileged uid. With no network,
  dependencies such as ``node_modules`` must be in the content. They get a scrubbed
  environment: ``PATH`` (a fixed system path, or ``ctx.options["path"]``), ``HOME`` (the
  sandbox's private /tmp), ``LANG=C.UTF-8``, plus the variables named in
  ``ctx.options["env_names"]`` copied from the worker. The portal's own variables
  (``settings.PORTAL_OWN_VARIABLES``: SECRET_KEY, AUDIT_HMAC_KEY, DATABASE_URL,
  CELERY_BROKER_URL, AWS_*, PG*...) and any ``*_DATABASE_URL`` are refused even when
  named. With ``PORTAL_SANDBOX=off`` the runner refuses to run.
- Output is streamed line by line to ``ctx.log`` (streams ``stdout`` / ``stderr``) as it
  arrives. Each command has a timeout (``ctx.options["timeout_seconds"]``, default 600); on
  timeout or cancel the whole process group is killed (TERM, then KILL after 5 s).
- A tool that is not installed gives a failed result saying so, not a crash.

Options: ``commands`` (list of argv lists; default the runbook's five pnpm scripts),
``timeout_seconds``, ``env_names``, ``path``.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from pathlib import Path
from typing import IO, Any

from migrations_ops.pg.environment import is_portal_variable
from migrations_ops.pg.sandbox import INNER_TMP, SandboxError
from migrations_ops.runners.base import JobCancelled, RunContext, RunnerError, RunResult

DEFAULT_COMMANDS = [
    ["pnpm", "run", "lint"],
    ["pnpm", "run", "typecheck"],
    ["pnpm", "run", "test:unit"],
    ["pnpm", "run", "test:auth"],
    ["pnpm", "run", "test:rls"],
]
DEFAULT_TIMEOUT_SECONDS = 600
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TAIL_LINES = 40
KILL_GRACE_SECONDS = 5
CANCEL_CHECK_SECONDS = 1.0  # ctx.cancelled() may query the portal's database
_MAX_LINE = 64 * 1024
# Lines read and not yet logged; a command printing faster waits for room.
MAX_QUEUED = 1000

FIXED_NAMES = {"PATH", "HOME", "LANG"}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EOF = ("", "")


def is_portal_secret(name: str) -> bool:
    """The portal's own variables (settings.PORTAL_OWN_VARIABLES), and any database URL:
    a target's URL is for the worker's pg tools, never for a project's scripts."""
    return is_portal_variable(name) or name.upper().endswith("_DATABASE_URL")


def _commands(option: Any) -> list[list[str]]:
    commands = DEFAULT_COMMANDS if option is None else option
    problem = (
        'check commands are argv lists such as ["pnpm", "run", "lint"], never shell '
        "strings: fix the project's check commands"
    )
    if not isinstance(commands, list) or not commands:
        raise RunnerError(problem)
    for argv in commands:
        if (
            not isinstance(argv, list)
            or not argv
            or not all(isinstance(arg, str) and "\x00" not in arg for arg in argv)
            or not argv[0].strip()
        ):
            raise RunnerError(f"{problem} (got {str(argv)[:80]})")
    return [list(argv) for argv in commands]


def _timeout(option: Any) -> float:
    if option is None:
        return DEFAULT_TIMEOUT_SECONDS
    if isinstance(option, bool) or not isinstance(option, int | float) or option <= 0:
        raise RunnerError("timeout_seconds must be a positive number of seconds")
    return float(option)


def scrubbed_environment(*, env_names: Any, home: str, path: str | None = None) -> dict[str, str]:
    """PATH, HOME, LANG plus the named worker variables; refuses the portal's secrets."""
    if env_names is None:
        env_names = []
    if not isinstance(env_names, list) or not all(isinstance(n, str) for n in env_names):
        raise RunnerError("env_names must be a list of environment variable names")
    env = {"PATH": path or DEFAULT_PATH, "HOME": home, "LANG": "C.UTF-8"}
    for name in env_names:
        if not _NAME.match(name):
            raise RunnerError(f"{name[:40]!r} in env_names is not an environment variable name")
        if is_portal_secret(name):
            what = (
                "one of the portal's own variables"
                if is_portal_variable(name)
                else "a database URL (targets' URLs are for the worker's pg tools)"
            )
            raise RunnerError(
                f"{name} is {what} and is never passed to a project's scripts: remove it "
                "from the project's env_names"
            )
        if name in FIXED_NAMES:
            raise RunnerError(f"{name} is set by the portal: remove it from env_names")
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def _resolve(program: str, *, cwd: Path, path: str) -> str | None:
    if "/" in program:
        candidate = Path(program) if Path(program).is_absolute() else cwd / program
        return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None
    return shutil.which(program, path=path)


def _pump(
    pipe: IO[bytes], stream: str, lines: queue.Queue[tuple[str, str]], stop: threading.Event
) -> None:
    """Read one pipe into ``lines``. The queue is bounded: a command printing faster than
    the job stores its lines waits for room (its writes block) instead of piling its
    output up in the worker's memory; ``stop`` ends the wait once nobody reads."""

    def put(item: tuple[str, str]) -> bool:
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                lines.put(item, timeout=0.5)
                return True
        return False

    with pipe:
        for raw in iter(lambda: pipe.readline(_MAX_LINE), b""):
            if not put((stream, raw.decode("utf-8", errors="replace").rstrip("\r\n"))):
                return
    put(_EOF)


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _leader_exited(proc: subprocess.Popen[bytes], wait: float = 0.0) -> bool:
    # WNOWAIT leaves the exited leader unreaped: its pid, and so the process group id,
    # cannot be reused while we still signal the group.
    deadline = time.monotonic() + wait
    while True:
        try:
            if os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
                return True
        except ChildProcessError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    _signal_group(proc, signal.SIGTERM)
    _leader_exited(proc, KILL_GRACE_SECONDS)
    _signal_group(proc, signal.SIGKILL)


def _outcome(argv: list[str], status: str, message: str, **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "argv": argv,
        "status": status,
        "exit_code": None,
        "duration_seconds": 0.0,
        "last_lines": [],
        "message": message,
    }
    result.update(extra)
    return result


def run_command(
    ctx: RunContext, argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float
) -> dict[str, Any]:
    """Run one argv in the sandbox, on a writable copy of the job's content (``cwd`` is
    that copy on the worker, for the "is it installed" check), streaming its output to
    ctx.log; its result dict (never raises for it)."""
    shown = shlex.join(argv)
    ctx.info(f"$ {shown}")
    sandbox = ctx.require_sandbox()
    executable = _resolve(argv[0], cwd=cwd, path=env["PATH"])
    if executable is None:
        message = (
            f"{argv[0]} is not installed on the worker: install it or change the project's "
            "check commands"
        )
        ctx.error(message)
        return _outcome(argv, "missing", message)
    started = time.monotonic()
    try:
        proc = sandbox.popen(
            argv,
            env=env,
            writable_copy="src",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, killed as a whole
        )
    except SandboxError as e:
        message = str(e)
        ctx.error(message)
        return _outcome(argv, "error", message)
    except OSError as e:
        message = f"could not start {shown}: {e.strerror or e}"
        ctx.error(message)
        return _outcome(argv, "error", message)
    lines: queue.Queue[tuple[str, str]] = queue.Queue(maxsize=MAX_QUEUED)
    stop = threading.Event()
    assert proc.stdout is not None and proc.stderr is not None
    for pipe, stream in ((proc.stdout, "stdout"), (proc.stderr, "stderr")):
        threading.Thread(target=_pump, args=(pipe, stream, lines, stop), daemon=True).start()
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    open_streams, stopped, ended_at, next_cancel_check = 2, "", 0.0, 0.0
    while open_streams:
        try:
            item = lines.get(timeout=0.1)
        except queue.Empty:
            item = None
        if item == _EOF:
            open_streams -= 1
        elif item is not None:
            ctx.log(item[0], item[1])
            tail.append(item[1])
        if ended_at:
            # Drain what is left. A process that left the group (setsid) could hold the
            # pipes open for ever: stop listening to it after a grace period.
            if time.monotonic() - ended_at > KILL_GRACE_SECONDS:
                break
            continue
        check_cancel = time.monotonic() >= next_cancel_check
        if check_cancel:
            next_cancel_check = time.monotonic() + CANCEL_CHECK_SECONDS
        if _leader_exited(proc):
            # The command has ended; strays left holding the pipes die with its group.
            _signal_group(proc, signal.SIGKILL)
        elif check_cancel and ctx.cancelled():
            stopped = "cancelled"
            _kill(proc)
        elif time.monotonic() - started > timeout:
            stopped = "timed_out"
            _kill(proc)
        else:
            continue
        ended_at = time.monotonic()
    stop.set()
    exit_code = proc.wait()
    duration = round(time.monotonic() - started, 3)
    if stopped == "cancelled":
        ctx.error(f"cancelled: {shown}")
        raise JobCancelled(f"cancelled while running {shown}")
    if stopped == "timed_out":
        status, message = "timed_out", f"{shown} timed out after {timeout:g} s and was stopped"
    elif exit_code == 0:
        status, message = "passed", f"{shown} passed"
    elif exit_code < 0:
        status, message = "failed", f"{shown} was killed by signal {-exit_code}"
    else:
        status, message = "failed", f"{shown} failed with exit code {exit_code}"
    (ctx.info if status == "passed" else ctx.error)(message)
    return _outcome(
        argv,
        status,
        message,
        exit_code=exit_code,
        duration_seconds=duration,
        last_lines=list(tail),
    )


def run(ctx: RunContext) -> RunResult:
    """Run every check command in the checkout; ok only if all of them pass."""
    commands = _commands(ctx.options.get("commands"))
    timeout = _timeout(ctx.options.get("timeout_seconds"))
    if ctx.repo_dir is None or not Path(ctx.repo_dir).is_dir():
        raise RunnerError(
            f"no project checkout at {ctx.repo_dir}: the check commands run in the repository "
            "root; check the project's repository path (or pass --repo-dir)"
        )
    path = ctx.options.get("path")
    if path is not None and not isinstance(path, str):
        raise RunnerError("path must be a PATH string such as /usr/local/bin:/usr/bin:/bin")
    sandbox = ctx.require_sandbox()
    if not sandbox.isolated:
        raise RunnerError(
            "PORTAL_SANDBOX=off: the project's check commands are scripts from the bundle and "
            "never run outside the sandbox; install bubblewrap (PORTAL_SANDBOX=bwrap)"
        )
    if not sandbox.has_content:
        sandbox.add_content(Path(ctx.repo_dir))
    try:
        cwd = sandbox.content_path()
    except (SandboxError, OSError) as e:
        raise RunnerError(f"could not copy the project's files into the sandbox: {e}") from None
    results = []
    # HOME is the sandbox's private /tmp: the worker's ~/.npmrc, ~/.pgpass... are not there.
    env = scrubbed_environment(env_names=ctx.options.get("env_names"), home=INNER_TMP, path=path)
    for argv in commands:
        ctx.check_cancelled()
        results.append(run_command(ctx, argv, cwd=cwd, env=env, timeout=timeout))
    failed = [r for r in results if r["status"] != "passed"]
    if failed:
        summary = f"{len(failed)} of {len(results)} check commands failed: " + "; ".join(
            r["message"] for r in failed
        )
    else:
        summary = f"all {len(results)} check commands passed"
    return RunResult(
        ok=not failed,
        summary=summary,
        data={
            "cwd": "a writable copy of the repository in the sandbox",
            "timeout_seconds": timeout,
            "commands": results,
        },
    )
