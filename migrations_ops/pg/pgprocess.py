"""Child processes (pg_dump, psql, pg_restore) of one job step.

Their stderr is read by small threads but handed to ``ctx.log`` from the job's own
thread (a log callback may write to the portal's database, whose connections belong to
one thread); the job's thread also checks for cancel and kills the children on the way
out, so nothing outlives the step.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import IO, Any

from migrations_ops.pg.bounded_output import lines
from migrations_ops.pg.job_sandbox import JobSandbox
from migrations_ops.runners.base import RunContext

POLL_S = 0.2
# Lines read but not yet handed to ctx.log; more are counted, not kept.
MAX_QUEUED = 10_000


class ToolProcesses:
    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._threads: list[threading.Thread] = []
        self._lines: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
        self._dropped: dict[str, int] = {}
        self._dropped_lock = threading.Lock()
        self.tail: deque[tuple[str, str]] = deque(maxlen=12)

    def __enter__(self) -> ToolProcesses:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
        for t in self._threads:
            t.join(timeout=10)
        self.drain()

    def start(
        self,
        args: Sequence[str],
        *,
        env: dict[str, str],
        label: str,
        stdin: Any = subprocess.DEVNULL,
        stdout: Any = subprocess.DEVNULL,
        sandbox: JobSandbox | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``args``; in ``sandbox`` when it touches bundle content or a scratch
        database (then ``env`` is all the process gets)."""
        proc: subprocess.Popen[bytes]
        if sandbox is not None:
            proc = sandbox.popen(
                args, env=env, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, bufsize=0
            )
        else:
            proc = subprocess.Popen(
                list(args), stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, env=env, bufsize=0
            )
        self.procs.append((label, proc))
        assert proc.stderr is not None
        self.thread(self._pump, label, proc.stderr)
        return proc

    def thread(self, target: Callable[..., None], *args: Any) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)
        t.start()
        self._threads.append(t)

    def _pump(self, label: str, stream: IO[bytes]) -> None:
        """Read one stderr: lines cut short, and past MAX_QUEUED lines waiting for the
        job's thread, counted instead of kept (a tool running bundle content, psql, may
        print without end); the tail is kept here, so the last words are never lost."""
        with stream:
            for raw in lines(stream):
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if line.strip():
                    self.tail.append((label, line.strip()))
                if self._lines.qsize() < MAX_QUEUED:
                    self._lines.put((label, line))
                else:
                    with self._dropped_lock:
                        self._dropped[label] = self._dropped.get(label, 0) + 1

    def drain(self) -> None:
        """Hand the stderr lines read so far to ctx.log (call from the job's thread)."""
        while True:
            try:
                label, line = self._lines.get_nowait()
            except queue.Empty:
                break
            self.ctx.log("stderr", line)
        with self._dropped_lock:
            dropped, self._dropped = self._dropped, {}
        for label, count in dropped.items():
            self.ctx.log("stderr", f"[{count} more lines of {label} output not shown]")

    def wait(self) -> list[int]:
        """Wait for every process, logging and checking cancel; return their exit codes."""
        try:
            for _, proc in self.procs:
                while True:
                    try:
                        proc.wait(timeout=POLL_S)
                        break
                    except subprocess.TimeoutExpired:
                        self.drain()
                        self.ctx.check_cancelled()
            for t in self._threads:
                t.join(timeout=10)
        finally:
            self.drain()
        return [proc.returncode for _, proc in self.procs]

    def kill(self) -> None:
        for _, proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(OSError):
                    proc.kill()
                proc.wait()

    def failure(self, what: str, returncode: int) -> str:
        """'pg_dump failed (exit 1): <its last stderr lines>'"""
        several = len({label for label, _ in self.procs}) > 1
        said = " | ".join(f"{label}: {text}" if several else text for label, text in self.tail)
        said = said or "no message"
        if returncode < 0:
            try:
                name = signal.Signals(-returncode).name
            except ValueError:
                name = f"signal {-returncode}"
            return f"{what} was killed ({name}) before it finished: {said}"
        return f"{what} failed (exit {returncode}): {said}"
