"""Reading what a sandboxed process prints, without ever holding more than a bound of it.

Bundle content decides how much a process in the sandbox prints: psql's ``\\!`` can pour
``/dev/zero`` into its output, ``RAISE WARNING`` in a loop fills the sandbox cluster's
log, a check script can print without end. The sandbox bounds what such a process may
use inside it, but the worker reads the output back, in its own memory: read whole, one
bundle could take the worker (and every job on it) down. So everything the worker reads
from a sandboxed process goes through here:

- ``lines``: a stream line by line, each line cut at ``MAX_LINE_BYTES`` (the rest of an
  over-long line is read and dropped, never joined);
- ``capture``: a process's whole stdout and stderr, each kept up to a limit; past it the
  process is stopped (it would only print more of the same) and stderr says so.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import IO

MAX_LINE_BYTES = 8192
CUT_MARK = b" [line cut]"
OUTPUT_LIMIT_BYTES = 16 * 1024 * 1024
_CHUNK = 64 * 1024


def lines(stream: IO[bytes], max_bytes: int = MAX_LINE_BYTES) -> Iterator[bytes]:
    """The lines of ``stream`` (with their newline), each at most ``max_bytes`` (plus
    ``CUT_MARK`` and the newline when it was cut)."""
    if not isinstance(stream, io.BufferedIOBase):
        # An unbuffered pipe (bufsize=0) would be read one byte per call.
        stream = io.BufferedReader(stream)  # type: ignore[type-var]
    while True:
        line = stream.readline(max_bytes)
        if not line:
            return
        if line.endswith(b"\n") or len(line) < max_bytes:
            yield line
            continue
        # An over-long line: keep its start, drop the rest up to the next newline.
        while True:
            rest = stream.readline(max_bytes)
            if not rest or rest.endswith(b"\n"):
                break
        yield line + CUT_MARK + b"\n"


def overflow_note(limit: int) -> bytes:
    return (
        f"\n[the output passed {limit // (1024 * 1024)} MB: the rest was not read and the "
        "process was stopped]\n"
    ).encode()


class _Reader(threading.Thread):
    """Reads one pipe to its end, keeping at most ``limit`` bytes."""

    def __init__(self, stream: IO[bytes], limit: int, on_overflow: threading.Event) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.limit = limit
        self.on_overflow = on_overflow
        self.kept = bytearray()
        self.overflowed = False

    def run(self) -> None:
        read = getattr(self.stream, "read1", self.stream.read)
        with contextlib.suppress(OSError, ValueError), self.stream:
            while chunk := read(_CHUNK):
                room = self.limit - len(self.kept)
                if len(chunk) > room:
                    self.kept += chunk[: max(room, 0)]
                    self.overflowed = True
                    self.on_overflow.set()
                    continue  # drained (not kept) until the stopped process closes it
                self.kept += chunk


def capture(
    proc: subprocess.Popen[bytes],
    *,
    input: bytes | None = None,
    timeout: float | None = None,
    limit: int = OUTPUT_LIMIT_BYTES,
) -> tuple[bytes, bytes]:
    """``proc.communicate(input, timeout)`` keeping at most ``limit`` bytes of each of
    stdout and stderr; a process that prints more is killed, and stderr ends with a note
    saying so. On timeout the process is killed and ``TimeoutExpired`` carries what it
    printed."""
    overflow = threading.Event()
    streams = {"out": proc.stdout, "err": proc.stderr}
    readers = {k: _Reader(s, limit, overflow) for k, s in streams.items() if s is not None}
    for reader in readers.values():
        reader.start()
    if proc.stdin is not None:
        threading.Thread(target=_feed, args=(proc.stdin, input or b""), daemon=True).start()
    deadline = None if timeout is None else time.monotonic() + timeout
    timed_out = False
    while True:
        try:
            proc.wait(timeout=0.05)
            break
        except subprocess.TimeoutExpired:
            pass
        if overflow.is_set():
            proc.kill()
        elif deadline is not None and time.monotonic() > deadline:
            proc.kill()
            timed_out = True
        else:
            continue
        proc.wait()
        break
    for reader in readers.values():
        reader.join(timeout=5)  # a stray still holding the pipe is not waited for
    out, err = (bytes(readers[k].kept) if k in readers else b"" for k in ("out", "err"))
    if any(r.overflowed for r in readers.values()):
        err += overflow_note(limit)
    if timed_out:
        raise subprocess.TimeoutExpired(proc.args, timeout or 0, out, err)
    return out, err


def _feed(sink: IO[bytes], data: bytes) -> None:
    with contextlib.suppress(OSError, ValueError), sink:
        sink.write(data)
