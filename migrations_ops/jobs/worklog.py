"""A running job's output, stored as JobLogLines the job page polls for.

Lines are buffered and written in small batches (every quarter second, or sooner when
many arrive), each batch in one transaction that first checks the worker still holds
the job: a worker whose lease was taken over can never write into the new attempt's log.
Stored output is capped per job; past the cap lines are counted, not stored, and a
marker line says how many were dropped.

Secret values (the target's URL and password, the values of the variables a check
command is given) are masked as ``[redacted]``: after terminal codes are stripped (so
colour codes printed inside a value do not hide it), before a long line is cut (so half
a value never survives the cut), and line by line for a value that spans lines. Values
shorter than 4 characters are left alone: masking them would mask ordinary words.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import DatabaseError, InterfaceError, connection, transaction
from django.utils import timezone

from migrations_ops.jobs.scrub import scrub_paths
from migrations_ops.models import Job, JobLogLine

logger = logging.getLogger(__name__)

MAX_LINE_CHARS = 8000
FLUSH_EVERY_SECONDS = 0.25
FLUSH_AT_LINES = 200

# CSI sequences (colours, cursor moves), OSC sequences (titles, links) and other escapes.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
# Control characters other than tab; NUL cannot be stored in PostgreSQL text at all.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_STREAMS = frozenset(JobLogLine.Stream.values)


MIN_SECRET_CHARS = 4
REDACTED = "[redacted]"


def _strip_codes(text: str) -> str:
    """``text`` without terminal escapes and control characters (newlines and tabs stay)."""
    return _CONTROL.sub("", _ANSI.sub("", text))


def _cut(text: str) -> str:
    if len(text) > MAX_LINE_CHARS:
        text = text[:MAX_LINE_CHARS] + f" [line cut at {MAX_LINE_CHARS} characters]"
    return text


def clean_line(text: str) -> str:
    """The line as a person should read it: no terminal escapes, no control characters."""
    return _cut(_strip_codes(text))


def masked_forms(secrets: Iterable[str]) -> list[str]:
    """What to look for in output: each value, as printed after cleaning, and each of
    its lines (the log stores a value that spans lines one line at a time); longest
    first, so a value is masked whole before any part of it."""
    forms: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        for form in (secret, _strip_codes(secret)):
            forms.add(form)
            forms.update(line.strip() for line in form.splitlines())
    return sorted((f for f in forms if len(f) >= MIN_SECRET_CHARS), key=len, reverse=True)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret masked. When a secret only shows once terminal codes
    are stripped (``abc\x1b[0mdef``), the stripped text is returned, masked."""
    secrets = list(secrets)
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    stripped = _strip_codes(text)
    if stripped != text and any(secret and secret in stripped for secret in secrets):
        return redact(stripped, secrets)
    return text


def redact_data(data: Any, secrets: list[str]) -> Any:
    """``data`` (JSON-like: dicts, lists, text) with every secret masked in every text."""
    if isinstance(data, str):
        return redact(data, secrets)
    if isinstance(data, dict):
        return {redact_data(k, secrets): redact_data(v, secrets) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [redact_data(v, secrets) for v in data]
    return data


# What a job stores besides its log: its error (a message, or an internal error's frames).
MAX_ERROR_CHARS = 64 * 1024


def cut_error(text: str) -> str:
    """A job's stored error, cut at MAX_ERROR_CHARS (a bundle's error message is as long
    as the bundle likes)."""
    if len(text) <= MAX_ERROR_CHARS:
        return text
    return text[:MAX_ERROR_CHARS] + f" [cut at {MAX_ERROR_CHARS} characters]"


def bounded_result(data: dict[str, Any], max_bytes: int) -> dict[str, Any]:
    """``data`` as stored: as it is when its JSON fits in ``max_bytes``. Otherwise (bundle
    content made it huge: long messages, rows of output, endless test output) every text
    is cut like a log line, then every list to its first items, and the result says so in
    ``truncated``; what still does not fit is replaced by that note alone."""
    if _json_size(data) <= max_bytes:
        return data
    note = (
        f"the result was over {max_bytes // 1024} KB, so it was cut before it was stored: "
        "long texts and lists are shortened"
    )
    cut = _cut_texts(data)
    if _json_size(cut) > max_bytes:
        cut = _cut_lists(cut, _KEPT_ITEMS)
    if not isinstance(cut, dict) or _json_size(cut) > max_bytes:
        return {"truncated": note}
    return {**cut, "truncated": note}


_KEPT_ITEMS = 100


def _json_size(data: Any) -> int:
    return len(json.dumps(data, default=str))


def _cut_texts(data: Any) -> Any:
    if isinstance(data, str):
        return _cut(data)
    if isinstance(data, dict):
        return {_cut(str(k)): _cut_texts(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_cut_texts(v) for v in data]
    return data


def _cut_lists(data: Any, items: int) -> Any:
    if isinstance(data, dict):
        return {k: _cut_lists(v, items) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_cut_lists(v, items) for v in data[:items]]
    return data


def truncation_marker(dropped: int) -> str:
    return f"[output truncated: {dropped} more lines not stored]"


class LostClaim(Exception):
    """The job is no longer this worker's (the reaper took it back)."""


class JobLog:
    """Writes one attempt's output. Thread-safe: the heartbeat thread flushes it too."""

    def __init__(self, job: Job, *, attempt: int, secrets: Iterable[str] = ()) -> None:
        self.job_id = job.pk
        self.attempt = attempt
        self.secrets = masked_forms(secrets)
        self.max_lines = settings.JOB_LOG_MAX_LINES
        self.max_bytes = settings.JOB_LOG_MAX_BYTES
        self.count = job.log_count  # lines stored so far, by earlier attempts too
        self.bytes = job.log_bytes
        self.truncated = job.log_truncated
        self.dropped = 0
        self.lost = False
        self._buffer: list[JobLogLine] = []
        self._dirty = False
        self._last_flush = time.monotonic()
        self._lock = threading.RLock()

    def write(self, stream: str, text: str) -> None:
        """Append ``text`` (one or more lines) to the log: the runner's ``ctx.log``."""
        if stream not in _STREAMS:
            stream = JobLogLine.Stream.STDOUT
        now = timezone.now()
        with self._lock:
            if self.lost:
                return
            for raw in str(text).splitlines() or [""]:
                # Masked before the cut: half a value must not survive it.
                # Server paths go too (migrations_ops.jobs.scrub): people read this log.
                line = scrub_paths(redact(_strip_codes(raw), self.secrets))
                self._append(stream, _cut(line), now)
            due = time.monotonic() - self._last_flush >= FLUSH_EVERY_SECONDS
            if due or len(self._buffer) >= FLUSH_AT_LINES:
                self.flush()

    def _append(self, stream: str, line: str, at: datetime, *, force: bool = False) -> None:
        size = len(line.encode())
        # One line is kept back for the truncation marker; once a line is dropped, all
        # later ones are too, so the stored log never has a hole in the middle.
        full = self.count + 1 >= self.max_lines or self.bytes + size > self.max_bytes
        if (full or self.dropped) and not force:
            self.dropped += 1
            if not self.truncated:
                self.truncated = self._dirty = True
            return
        self.count += 1
        self.bytes += size
        self._dirty = True
        self._buffer.append(
            JobLogLine(job_id=self.job_id, seq=self.count, at=at, stream=stream, text=line)
        )

    def flush(self) -> None:
        """Store buffered lines; a database error keeps them for the next try."""
        with self._lock:
            self._last_flush = time.monotonic()
            if self.lost or not self._dirty:
                return
            try:
                with transaction.atomic():
                    still_ours = Job.objects.held(self.job_id, self.attempt).update(
                        log_count=self.count, log_bytes=self.bytes, log_truncated=self.truncated
                    )
                    if not still_ours:
                        raise LostClaim
                    JobLogLine.objects.bulk_create(self._buffer)
            except LostClaim:
                self.lost = True
                self._buffer.clear()
                return
            except (DatabaseError, InterfaceError):
                logger.warning("job %s: could not store log lines; will retry", self.job_id)
                connection.close_if_unusable_or_obsolete()
                return
            self._buffer.clear()
            self._dirty = False

    def flush_if_stale(self) -> None:
        if self._buffer and time.monotonic() - self._last_flush >= FLUSH_EVERY_SECONDS:
            self.flush()

    def close(self) -> None:
        """Add the truncation marker if lines were dropped, and store everything."""
        with self._lock:
            if self.dropped and not self.lost:
                self._append("info", truncation_marker(self.dropped), timezone.now(), force=True)
                self.dropped = 0
            self.flush()
