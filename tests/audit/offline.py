"""Running scripts/verify_changelog.py as an outsider would: alone, in a plain Python."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from django.core.management import call_command

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "verify_changelog.py"


def outsider_copy(tmp_path: Path) -> Path:
    """The script alone in a folder of its own, as an auditor downloads it."""
    alone = tmp_path / "outsider"
    alone.mkdir(exist_ok=True)
    return Path(shutil.copy(SCRIPT, alone / "verify_changelog.py"))


def run(script: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", str(script), *map(str, args)],
        cwd=script.parent,
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def public_key(tmp_path: Path, capsys) -> Path:
    call_command("audit_public_key")
    path = tmp_path / "key.pem"
    path.write_text(capsys.readouterr().out)
    return path


def export(tmp_path: Path, fmt: str = "jsonl", name: str = "", **options) -> Path:
    path = tmp_path / (name or f"export.{fmt}")
    call_command("audit_export", format=fmt, out=str(path), **options)
    return path


def fails(script, path, key, *extra) -> str:
    done = run(script, path, "--public-key", key, *extra)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout == ""
    return done.stderr


def said_as_time(at: str) -> str:
    """A checkpoint's ISO time as the script says it to people."""
    moment = datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def write(path: Path, new_lines: list[str]) -> Path:
    path.write_text("".join(new_lines), encoding="utf-8")
    return path


def first_event_line(path: Path, after: int = 0) -> int:
    for number, line in enumerate(lines(path)):
        if number > after and json.loads(line)["type"] == "event":
            return number
    raise AssertionError("no event line")
