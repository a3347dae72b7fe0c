"""A second opinion: the squawk linter (``squawk-cli`` on PyPI) on the pending files.

Squawk reads SQL text with its own parser and knows nothing of the target; its findings
are cited beside the portal's (``found_by: ["portal", "squawk:<rule>"]``) when both see
the same hazard, and listed as ``second_opinion`` otherwise. Its input is bundle content,
so with a job's sandbox it runs there (a copy of the binary and of the files in the job
folder); without one (tests, the library alone) in a temporary folder. Either way it
runs offline, with an empty configuration (a ``.squawk.toml`` in the bundle is not
read), an empty environment and a time limit. Without the binary the report says so and
goes on: the portal's own analysis does not depend on it.

Style rules that say nothing about locks or data are left out by default
(``DEFAULT_EXCLUDED``); ``exclude`` replaces the list.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrations_ops.pg.sandbox import SandboxError

if TYPE_CHECKING:
    from migrations_ops.pg.apply import MigrationFile
    from migrations_ops.pg.job_sandbox import JobSandbox

DEFAULT_EXCLUDED = (
    "prefer-robust-stmts",
    "prefer-bigint-over-int",
    "prefer-bigint-over-smallint",
    "prefer-identity",
    "prefer-text-field",
    "prefer-timestamptz",
    "ban-char-field",
    "require-statement-timeout",
    "require-lock-timeout",
)


@dataclass
class SquawkFinding:
    file: str
    line: int  # 1-based
    statement_index: int  # 0-based statement of the file that holds the line
    rule: str
    level: str
    message: str
    help: str

    def as_dict(self) -> dict[str, Any]:
        return {"tool": "squawk", **asdict(self)}


def find_binary() -> str | None:
    """The squawk installed beside this Python (the venv's bin), else on PATH."""
    beside = Path(sys.executable).parent / "squawk"
    if beside.is_file():
        return str(beside)
    return shutil.which("squawk")


def _arguments(pg_version: str | None, exclude: Sequence[str]) -> list[str]:
    args = ["--reporter", "json", "--assume-in-transaction"]
    if pg_version:
        args += ["--pg-version", pg_version]
    if exclude:
        args += ["--exclude", ",".join(exclude)]
    return args


def run(
    files: Sequence[MigrationFile],
    *,
    pg_version: str | None = None,
    exclude: Sequence[str] = DEFAULT_EXCLUDED,
    timeout: float = 60,
    sandbox: JobSandbox | None = None,
) -> tuple[list[SquawkFinding], str | None]:
    """``(findings, note)``; ``note`` says why there are none when squawk could not run."""
    binary = find_binary()
    if binary is None:
        return [], "squawk is not installed (pip install squawk-cli): no second opinion"
    if not files:
        return [], None
    by_name = {f.filename: f for f in files}
    try:
        if sandbox is not None:
            done = _run_in_sandbox(sandbox, binary, files, _arguments(pg_version, exclude), timeout)
        else:
            done = _run_here(binary, files, _arguments(pg_version, exclude), timeout)
    except subprocess.TimeoutExpired:
        return [], f"squawk did not finish within {timeout:.0f} s: no second opinion"
    except (OSError, SandboxError) as e:
        return [], f"squawk could not run ({e}): no second opinion"
    if done.returncode not in (0, 1):
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return [], f"squawk failed ({reason}): no second opinion"
    try:
        raw = json.loads(done.stdout or "[]")
    except json.JSONDecodeError:
        return [], "squawk's output could not be read: no second opinion"
    findings = []
    for item in raw:
        name = Path(item.get("file", "")).name
        found = by_name.get(name)
        if found is None:
            continue
        line = int(item.get("line", 0)) + 1
        index = 0
        for statement in found.statements:
            if statement.line <= line:
                index = statement.index
        findings.append(
            SquawkFinding(
                file=name,
                line=line,
                statement_index=index,
                rule=item.get("rule_name", ""),
                level=item.get("level", ""),
                message=item.get("message", ""),
                help=item.get("help", "") or "",
            )
        )
    return findings, None


def _run_here(
    binary: str, files: Sequence[MigrationFile], args: list[str], timeout: float
) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="rp_squawk_") as folder:
        base = Path(folder)
        config = base / "squawk.toml"
        config.write_text("")
        (base / "files").mkdir()
        for migration in files:
            (base / "files" / migration.filename).write_text(migration.text)
        names = [f"files/{m.filename}" for m in sorted(files, key=lambda m: m.filename)]
        return subprocess.run(
            [binary, "--config", str(config), *args, *names],
            cwd=base, env={"PATH": "/usr/bin:/bin", "HOME": folder},
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip


def _run_in_sandbox(
    sandbox: JobSandbox,
    binary: str,
    files: Sequence[MigrationFile],
    args: list[str],
    timeout: float,
) -> subprocess.CompletedProcess[str]:
    tool = sandbox.add_file("squawk/squawk", Path(binary).read_bytes())
    tool.chmod(0o755)
    config = sandbox.add_file("squawk/squawk.toml", b"")
    paths = [
        sandbox.inside(sandbox.add_file(f"squawk/files/{m.filename}", m.text.encode()))
        for m in sorted(files, key=lambda m: m.filename)
    ]
    done = sandbox.run(
        [sandbox.inside(tool), "--config", sandbox.inside(config), *args, *paths],
        timeout=timeout,
    )
    return subprocess.CompletedProcess(
        done.args,
        done.returncode,
        done.stdout.decode(errors="replace"),
        done.stderr.decode(errors="replace"),
    )
