"""What every runner takes and gives back.

A runner is a function ``run(ctx: RunContext) -> RunResult``. It never touches the
portal's models or Celery: the job engine (migrations_ops.jobs) builds the context from a
Job row and stores the result; ``manage.py runner`` builds it from command-line flags.
Runners write progress through ``ctx.log`` and check ``ctx.cancelled()`` between steps.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from migrations_ops.pg import apply, pgtools, scratch
from migrations_ops.pg.installations import NoInstallation
from migrations_ops.pg.job_sandbox import JobSandbox
from migrations_ops.pg.sandbox import SandboxError

logger = logging.getLogger(__name__)

LogFn = Callable[[str, str], None]  # (stream, text); stream is stdout, stderr, info or error


def _log_to_logger(stream: str, text: str) -> None:
    logger.info("[%s] %s", stream, text)


@dataclass
class RunContext:
    # The project's supabase/ folder (migrations/, tests/, rollbacks/...), and the
    # repository root that holds it (commands run there; fixture paths are relative to it).
    supabase_dir: Path | None = None
    repo_dir: Path | None = None
    # The target database (staging, production), when the runner needs one.
    database_url: str | None = None
    target_name: str = "target"
    # The environment variable the target's URL is read from, for "set it" messages.
    url_variable: str = ""
    # Where bundle content runs (migrations_ops.pg.sandbox): scratch databases, psql on
    # bundle files, check commands. None: nothing from the bundle may run.
    sandbox: JobSandbox | None = None
    # SQL files loaded first into every scratch database (roles, auth schema...).
    fixtures: list[Path] = field(default_factory=list)
    schemas: list[str] = field(default_factory=lambda: ["app", "public"])
    # Runner-specific settings (commands, secret names, environment names, timeouts...).
    options: dict[str, Any] = field(default_factory=dict)
    log: LogFn = _log_to_logger
    cancelled: Callable[[], bool] = lambda: False
    # Called with a scratch database's name before it is created and after it is dropped,
    # so the reaper can drop what a killed worker left behind.
    scratch_created: Callable[[str], None] = lambda name: None
    scratch_dropped: Callable[[str], None] = lambda name: None
    # When the run began (time.monotonic()): a runner's "seconds" is ``seconds()``. A
    # context made with dataclasses.replace (a dry run inside the risk job) starts anew.
    started: float = field(default_factory=time.monotonic, init=False, repr=False)

    def seconds(self) -> float:
        """Seconds since the run began, to the millisecond, as the results report them."""
        return round(time.monotonic() - self.started, 3)

    def connect(self, *, autocommit: bool = True) -> psycopg.Connection:
        """A connection to the job's target (``connect_target``)."""
        return connect_target(
            self.database_url, self.target_name, autocommit=autocommit, variable=self.url_variable
        )

    def info(self, text: str) -> None:
        self.log("info", text)

    def error(self, text: str) -> None:
        self.log("error", text)

    def check_cancelled(self) -> None:
        if self.cancelled():
            raise JobCancelled("cancelled on request")

    def require_sandbox(self) -> JobSandbox:
        """The job's sandbox; a RunnerError when there is none or it was stopped."""
        if self.sandbox is None:
            raise RunnerError(
                "this job runs the bundle's content, which only ever runs in the sandbox, "
                "and none was opened for it"
            )
        if self.sandbox.violation:
            raise RunnerError(self.sandbox.violation)
        return self.sandbox

    def scratch_server(self, major: int | None = None) -> str:
        """The sandbox's server for scratch databases, started on first use with the
        installation of ``major`` (the target's) when there is one."""
        sandbox = self.require_sandbox()
        preferred = self.options.get("pg_major")
        try:
            return sandbox.server_url(
                target_major=major, preferred_major=int(preferred) if preferred else None
            )
        except (SandboxError, NoInstallation) as e:
            raise RunnerError(str(e)) from None

    def apply_pending(
        self, conn: psycopg.Connection, files: list[apply.MigrationFile], **more: Any
    ) -> apply.ApplyReport:
        """Apply the pending ``files`` as the CLI would (``pg.apply.apply_files``) with the
        job's ``lock_timeout`` (default "10s") and ``non_transactional`` ("fail") options,
        logging to the job and stopping between files when it is cancelled."""
        return apply.apply_files(
            conn,
            files,
            log=self.log,
            lock_timeout=self.options.get("lock_timeout", "10s"),
            non_transactional=self.options.get("non_transactional", "fail"),
            checkpoint=self.check_cancelled,
            **more,
        )

    @contextlib.contextmanager
    def scratch_database(self, purpose: str, *, major: int | None = None) -> Iterator[str]:
        """A new scratch database on the sandbox's server (``scratch_server(major)``),
        recorded for the reaper while it exists, dropped on the way out."""
        with scratch.scratch_database(
            purpose=purpose,
            server_url=self.scratch_server(major=major),
            on_create=self.scratch_created,
            on_drop=self.scratch_dropped,
        ) as url:
            yield url


@dataclass
class RunResult:
    ok: bool
    summary: str  # one line a person reads first: "3 pending migrations apply cleanly"
    data: dict[str, Any] = field(default_factory=dict)  # structured, JSON-serialisable

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "summary": self.summary, "data": self.data}


class RunnerError(Exception):
    """A failure the user can act on; its message says what happened and what to do."""


class JobCancelled(Exception):
    pass


# libpq names each address it tried: 'connection to server at "h", port 5432 failed: '.
_LIBPQ_ATTEMPT = re.compile(r"^(?:connection failed: )?connection to server (?:at|on) .*? failed: ")


def connection_failure_reason(error: BaseException) -> str:
    """libpq's reason for a failed connection, in one line: "Connection refused. Is the
    server running on that host and accepting TCP/IP connections?".

    libpq writes the reason after the address it tried and its hint on a line of its own
    (tab-indented); the last line alone would be the hint without the reason.
    """
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    # With several addresses (localhost: ::1, then 127.0.0.1), the last attempt's lines.
    last = max((i for i, line in enumerate(lines) if _LIBPQ_ATTEMPT.match(line)), default=0)
    first, *hints = lines[last:]
    reason = _LIBPQ_ATTEMPT.sub("", first).replace("FATAL:  ", "")
    return " ".join([reason.rstrip(".") + ("." if hints else ""), *hints])


def no_url(name: str, variable: str = "") -> str:
    """What to do when a target's URL is not set where the job runs."""
    what = variable or "the environment variable the project's settings name for it"
    return f"no database URL for {name}: set {what} where the portal and its workers run"


def connect_target(
    url: str | None, name: str, *, timeout: int = 10, autocommit: bool = True, variable: str = ""
) -> psycopg.Connection:
    """Connect to a target within ``timeout`` seconds, or fail with a message naming it.

    "could not connect to staging (db.example.com:5432): Connection refused. Is the server
    running on that host and accepting TCP/IP connections?"
    """
    if not url:
        raise RunnerError(no_url(name, variable))
    try:
        return psycopg.connect(url, connect_timeout=timeout, autocommit=autocommit)
    except psycopg.OperationalError as e:
        # libpq's message may echo the URL; strip anything that looks like a password.
        reason = connection_failure_reason(e).replace(url, "<url>")
        raise RunnerError(
            f"could not connect to {name} ({pgtools.describe_server(url)}): {reason}"
        ) from None
