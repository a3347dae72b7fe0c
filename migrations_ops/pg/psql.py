"""Run a SQL file with psql, the way pg_prove and CI scripts run them.

``run_file`` runs ``psql --no-psqlrc --set ON_ERROR_STOP=1 --file F`` with the URL passed
through the environment (never argv) and reads psql's ``psql:FILE:LINE: ERROR: ...``
lines. psql names the line where the failing statement *ends*; when the server adds
``LINE n:`` (the line inside the statement), the error's own line in the file is
worked out from where that statement starts.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from migrations_ops.pg import pgtools
from migrations_ops.pg.job_sandbox import JobSandbox
from migrations_ops.pg.sqlsplit import split_statements

# pg_prove's psql options (TAP::Parser::SourceHandler::pgTAP): bare rows, one per line.
TAP_OPTIONS = ["--no-align", "--pset", "pager=off", "--pset", "tuples_only=true"]
_MESSAGE = re.compile(
    r"^psql:(?P<file>.*?):(?P<line>\d+): (?P<severity>ERROR|FATAL|NOTICE|WARNING|INFO):\s+"
    r"(?P<message>.*)$"
)
_STATEMENT_LINE = re.compile(r"^LINE (\d+):")
_LEADING_LINE_COMMENTS = re.compile(r"(?:\s*--[^\n]*\n)*\s*")


@dataclass
class PsqlMessage:
    file: str
    line: int | None
    severity: str
    message: str

    def describe(self) -> str:
        where = f"{Path(self.file).name} line {self.line}" if self.line else Path(self.file).name
        return f"{where}: {self.severity}: {self.message}"


@dataclass
class PsqlRun:
    returncode: int
    stdout: str
    stderr: str
    messages: list[PsqlMessage] = field(default_factory=list)
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    @property
    def errors(self) -> list[PsqlMessage]:
        return [m for m in self.messages if m.severity in ("ERROR", "FATAL")]

    @property
    def first_error(self) -> PsqlMessage | None:
        errors = self.errors
        if errors:
            return errors[0]
        if not self.ok:
            text = self.stderr.strip().splitlines()
            reason = "timed out" if self.timed_out else (text[-1] if text else "psql failed")
            return PsqlMessage(file="", line=None, severity="ERROR", message=reason)
        return None

    def as_dict(self) -> dict[str, Any]:
        first = self.first_error
        return {
            "ok": self.ok,
            "returncode": self.returncode,
            "first_error": asdict(first) if first else None,
        }


def psql_for(server_major: int) -> pgtools.Tool:
    return pgtools.find_tool("psql", server_major)


def run_file(
    *,
    url: str,
    path: Path,
    psql: pgtools.Tool,
    sandbox: JobSandbox,
    timeout: float = 300,
    on_error_stop: bool = True,
    tap: bool = False,
) -> PsqlRun:
    """Run ``path`` in the database at ``url``; never raises for SQL errors.

    The file is bundle content, so psql runs in the job's sandbox: a ``\\!`` or ``\\copy``
    in it reaches only the sandbox. ``url`` names a database of the sandbox's cluster.
    """
    args = [psql.path, "--no-psqlrc", "--quiet"]
    if tap:
        args += TAP_OPTIONS
    if on_error_stop:
        args += ["--set", "ON_ERROR_STOP=1"]
    args += ["--file", sandbox.inside(path)]
    try:
        done = sandbox.run(args, env=sandbox.client_env(url), timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return PsqlRun(
            returncode=-1,
            stdout=_text(e.stdout),
            stderr=_text(e.stderr) + f"\npsql did not finish within {timeout:.0f} s",
            timed_out=True,
        )
    stdout, stderr = _text(done.stdout), _text(done.stderr)
    run = PsqlRun(returncode=done.returncode, stdout=stdout, stderr=stderr)
    run.messages = parse_messages(stderr, path)
    return run


def _text(value: bytes | str | None) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value or ""


def parse_messages(stderr: str, path: Path | None = None) -> list[PsqlMessage]:
    """psql's ``psql:FILE:LINE: SEVERITY: message`` lines, with the error's own line."""
    messages: list[PsqlMessage] = []
    lines = stderr.splitlines()
    for i, text in enumerate(lines):
        found = _MESSAGE.match(text)
        if not found:
            continue
        line = int(found.group("line"))
        if found.group("severity") in ("ERROR", "FATAL") and i + 1 < len(lines):
            inner = _STATEMENT_LINE.match(lines[i + 1])
            if inner and path is not None:
                line = _line_in_file(path, end_line=line, line_in_statement=int(inner.group(1)))
        messages.append(
            PsqlMessage(
                file=found.group("file"),
                line=line,
                severity=found.group("severity"),
                message=found.group("message").strip(),
            )
        )
    return messages


def _line_in_file(path: Path, *, end_line: int, line_in_statement: int) -> int:
    """The file line of ``LINE n`` inside the statement that ends on ``end_line``."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return end_line
    for statement in split_statements(text):
        last = statement.line + statement.text.count("\n")
        if last == end_line:
            # psql drops leading white space and -- comments before sending a query.
            skipped = _LEADING_LINE_COMMENTS.match(statement.text)
            first = statement.line + (skipped.group(0).count("\n") if skipped else 0)
            return first + line_in_statement - 1
    return end_line
