"""Runner ``commands``: the project's check commands, argv only, scrubbed environment, run
in the sandbox on a copy of the checkout (the worker's own Python under /root is out of
its reach, so the scripts use Debian's /usr/bin/python3)."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from migrations_ops.runners.base import JobCancelled, RunContext, RunnerError
from migrations_ops.runners.commands import DEFAULT_COMMANDS, run

PY = "/usr/bin/python3"


@pytest.fixture(autouse=True)
def _sandbox(sandbox):
    global _SANDBOX
    _SANDBOX = sandbox
    yield
    _SANDBOX = None


_SANDBOX: Any = None


def _ctx(repo: Path, **options: Any) -> tuple[RunContext, list[tuple[str, str]]]:
    lines: list[tuple[str, str]] = []
    ctx = RunContext(
        repo_dir=repo,
        options=options,
        log=lambda stream, text: lines.append((stream, text)),
        sandbox=_SANDBOX,
    )
    return ctx, lines


def _sandboxed_processes(marker: str) -> list[int]:
    """Host pids of processes whose command line holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "cmdline").read_bytes() and _alive(int(entry.name)):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _py(code: str) -> list[str]:
    return [PY, "-c", code]


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie has already died


def test_it_passes_when_every_command_passes_and_streams_both_outputs(tmp_path):
    ctx, lines = _ctx(
        tmp_path,
        commands=[_py("import sys; print('hello'); print('careful', file=sys.stderr)"), _py("")],
    )

    result = run(ctx)

    assert result.ok
    assert result.summary == "all 2 check commands passed"
    first = result.data["commands"][0]
    assert first["status"] == "passed" and first["exit_code"] == 0
    assert first["argv"] == ctx.options["commands"][0]
    assert sorted(first["last_lines"]) == ["careful", "hello"]
    assert first["duration_seconds"] >= 0
    assert ("stdout", "hello") in lines
    assert ("stderr", "careful") in lines


def test_it_runs_every_command_after_a_failure_and_fails_overall(tmp_path):
    ctx, _ = _ctx(
        tmp_path, commands=[_py("import sys; print('boom'); sys.exit(3)"), _py("print('after')")]
    )

    result = run(ctx)

    assert not result.ok
    failed, after = result.data["commands"]
    assert (failed["status"], failed["exit_code"], failed["last_lines"]) == ("failed", 3, ["boom"])
    assert (after["status"], after["last_lines"]) == ("passed", ["after"])
    assert result.summary.startswith("1 of 2 check commands failed: ")
    assert "failed with exit code 3" in result.summary


def test_it_stops_a_command_that_times_out_with_its_whole_process_group(tmp_path):
    marker = f"rp-grandchild-{uuid.uuid4().hex}"
    code = (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen(['/usr/bin/python3', '-c', 'import time; time.sleep(60)', "
        f"'{marker}'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    ctx, _ = _ctx(tmp_path, commands=[_py(code)], timeout_seconds=1.5)

    result = run(ctx)

    [outcome] = result.data["commands"]
    assert not result.ok
    assert outcome["status"] == "timed_out"
    assert "timed out after 1.5 s" in outcome["message"]
    assert outcome["last_lines"]  # the grandchild had started
    for _ in range(40):  # the signal is sent; give the kernel a moment to deliver it
        if not _sandboxed_processes(marker):
            break
        time.sleep(0.05)
    assert not _sandboxed_processes(marker)


def test_it_reports_a_missing_tool_as_a_failed_result(tmp_path):
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    ctx, lines = _ctx(tmp_path, path=str(empty_path))  # the runbook's pnpm scripts

    result = run(ctx)

    assert not result.ok
    assert [c["argv"] for c in result.data["commands"]] == DEFAULT_COMMANDS
    message = (
        "pnpm is not installed on the worker: install it or change the project's check commands"
    )
    assert {c["status"] for c in result.data["commands"]} == {"missing"}
    assert {c["message"] for c in result.data["commands"]} == {message}
    assert ("error", message) in lines


def test_it_runs_scripts_with_a_scrubbed_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "portal-secret-key")
    monkeypatch.setenv("STAGING_DATABASE_URL", "postgresql://u:pw@staging/db")
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://secret")
    monkeypatch.setenv("RP_PROJECT_TOKEN", "project-value")
    ctx, _ = _ctx(
        tmp_path,
        commands=[_py("import json, os; print(json.dumps(dict(os.environ)))")],
        env_names=["RP_PROJECT_TOKEN", "RP_NOT_SET_ANYWHERE"],
    )

    result = run(ctx)

    env = json.loads(result.data["commands"][0]["last_lines"][0])
    # PWD and OLDPWD: the sandbox's shell changed into the copy of the checkout.
    assert set(env) - {"PWD", "OLDPWD"} == {"PATH", "HOME", "LANG", "TZ", "RP_PROJECT_TOKEN"}
    assert env["RP_PROJECT_TOKEN"] == "project-value"
    assert env["LANG"] == "C.UTF-8"
    assert env["HOME"] == "/tmp"  # the sandbox's private /tmp, not the worker's home


@pytest.mark.parametrize(
    "name", ["SECRET_KEY", "AUDIT_HMAC_KEY", "DATABASE_URL", "STAGING_DATABASE_URL", "HOME"]
)
def test_it_refuses_to_pass_the_portals_own_settings(tmp_path, name):
    ctx, _ = _ctx(tmp_path, commands=[_py("")], env_names=[name])
    with pytest.raises(RunnerError, match=f"^{name} is"):
        run(ctx)


@pytest.mark.parametrize(
    "commands",
    ["pnpm run lint", ["pnpm run lint"], [["pnpm", 1]], [[]], [], [[" ", "x"]], {"a": ["b"]}],
)
def test_it_refuses_anything_but_argv_lists(tmp_path, commands):
    ctx, _ = _ctx(tmp_path, commands=commands)
    with pytest.raises(RunnerError, match="argv lists"):
        run(ctx)


def test_it_never_uses_a_shell(tmp_path):
    ctx, _ = _ctx(tmp_path, commands=[[PY, "-c", "import sys; print(sys.argv[1])", "$HOME; ls"]])
    result = run(ctx)
    assert result.data["commands"][0]["last_lines"] == ["$HOME; ls"]


def test_it_refuses_a_bad_timeout(tmp_path):
    ctx, _ = _ctx(tmp_path, commands=[_py("")], timeout_seconds=0)
    with pytest.raises(RunnerError, match="positive number"):
        run(ctx)


def test_it_needs_the_checkout(tmp_path):
    ctx, _ = _ctx(tmp_path / "missing", commands=[_py("")])
    with pytest.raises(RunnerError, match="no project checkout"):
        run(ctx)


def test_it_runs_in_a_writable_copy_of_the_checkout(tmp_path):
    (tmp_path / "package.json").write_text("{}")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("[remote]\nurl = https://token@example.com/x\n")
    code = (
        "import os; print(os.getcwd()); print(sorted(os.listdir('.'))); "
        "open('out.txt', 'w').write('x'); print('wrote')"
    )
    ctx, _ = _ctx(tmp_path, commands=[_py(code)])
    result = run(ctx)
    assert result.data["commands"][0]["last_lines"] == ["/work", "['package.json']", "wrote"]
    assert not (tmp_path / "out.txt").exists()  # the checkout itself is never written


def test_it_kills_the_command_when_the_job_is_cancelled(tmp_path: Path) -> None:
    lines: list[tuple[str, str]] = []
    marker = f"rp-cancelled-{uuid.uuid4().hex}"
    code = (
        "import subprocess; print('started', flush=True); "
        f"subprocess.run(['/usr/bin/python3', '-c', 'import time; time.sleep(60)', '{marker}'])"
    )
    ctx = RunContext(
        repo_dir=tmp_path,
        options={"commands": [_py(code), _py("print('never')")]},
        log=lambda stream, text: lines.append((stream, text)),
        cancelled=lambda: any(stream == "stdout" for stream, _ in lines),
        sandbox=_SANDBOX,
    )

    with pytest.raises(JobCancelled):
        run(ctx)

    for _ in range(40):
        if not _sandboxed_processes(marker):
            break
        time.sleep(0.05)
    assert not _sandboxed_processes(marker)
    assert ("stdout", "never") not in lines


def test_it_keeps_only_the_last_lines(tmp_path):
    ctx, lines = _ctx(tmp_path, commands=[_py("for i in range(100): print(f'line {i}')")])
    result = run(ctx)
    tail = result.data["commands"][0]["last_lines"]
    assert len(tail) == 40 and tail[-1] == "line 99"
    assert len([1 for stream, _ in lines if stream == "stdout"]) == 100
