"""Runner ``order``: migration file order and names, against the target's history."""

from __future__ import annotations

import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from migrations_ops.runners import get_runner
from migrations_ops.runners.base import RunContext, RunnerError
from migrations_ops.runners.order import run
from tests.migrations_ops.supabase_project import supabase_folder, target_database

SQL = "create table t (id int);\n"


def _ctx(supabase_dir: Path | None, **kwargs) -> tuple[RunContext, list[tuple[str, str]]]:
    lines: list[tuple[str, str]] = []
    ctx = RunContext(
        supabase_dir=supabase_dir, log=lambda stream, text: lines.append((stream, text)), **kwargs
    )
    return ctx, lines


def _codes(findings: list[dict]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in findings:
        out.setdefault(f["code"], []).extend(f["filenames"] or [f["version"]])
    return out


def test_it_is_the_runner_for_kind_order():
    assert get_runner("order") is run


def test_it_passes_a_clean_folder_without_a_database(tmp_path):
    folder = supabase_folder(
        tmp_path, {"20240101000000_a.sql": SQL, "20240102000000_b.sql": SQL, "README.md": "x"}
    )
    ctx, _ = _ctx(folder)

    result = run(ctx)

    assert result.ok, result.summary
    assert [f["filename"] for f in result.data["files"]] == [
        "20240101000000_a.sql",
        "20240102000000_b.sql",
    ]
    assert result.data["errors"] == result.data["warnings"] == []
    assert result.data["skipped"][0]["filename"] == "README.md"
    assert result.data["history"] is None
    assert result.summary == "2 migration files; 0 errors; 0 warnings"


def test_it_warns_about_what_the_cli_tolerates_without_a_database(tmp_path):
    folder = supabase_folder(
        tmp_path,
        {
            "20191201000000_init.sql": SQL,  # first entry, before the cutoff: skipped
            "20240101_short.sql": SQL,
            "20241301000000_month13.sql": SQL,
            "add_users.sql": SQL,
        },
    )
    ctx, lines = _ctx(folder)

    result = run(ctx)

    assert result.ok, result.summary
    warnings = _codes(result.data["warnings"])
    assert warnings["skipped_init_baseline"] == ["20191201000000_init.sql"]
    assert warnings["skipped_name_pattern"] == ["add_users.sql"]
    assert warnings["not_14_digits"] == ["20240101_short.sql"]
    assert warnings["impossible_date"] == ["20241301000000_month13.sql"]
    assert ("info", "Skipping add_users.sql: " + result.data["skipped"][-1]["reason"]) in lines


def test_it_warns_about_an_all_zero_version_that_also_unhides_an_init_file(tmp_path):
    # The CLI skips an old _init.sql only as the very first entry; 000... sorts before it.
    folder = supabase_folder(
        tmp_path, {"00000000000000_zero.sql": SQL, "20191201000000_init.sql": SQL}
    )
    ctx, _ = _ctx(folder)

    result = run(ctx)

    assert result.ok
    assert [f["filename"] for f in result.data["files"]] == [
        "00000000000000_zero.sql",
        "20191201000000_init.sql",
    ]
    assert _codes(result.data["warnings"]) == {"all_zero": ["00000000000000_zero.sql"]}


def test_it_fails_on_duplicate_versions(tmp_path):
    folder = supabase_folder(tmp_path, {"20240101000000_a.sql": SQL, "20240101000000_b.sql": SQL})
    ctx, lines = _ctx(folder)

    result = run(ctx)

    assert not result.ok
    assert _codes(result.data["errors"]) == {
        "duplicate_version": ["20240101000000_a.sql", "20240101000000_b.sql"]
    }
    assert "version 20240101000000 is used by 2 files" in result.summary
    assert any(stream == "error" and "20240101000000_b.sql" in t for stream, t in lines)


def test_it_passes_an_empty_folder(tmp_path):
    ctx, _ = _ctx(supabase_folder(tmp_path, {}))
    result = run(ctx)
    assert result.ok
    assert result.data["files"] == []
    assert result.summary.startswith("0 migration files")


def test_it_raises_a_clear_error_for_a_missing_folder(tmp_path):
    ctx, _ = _ctx(tmp_path / "supabase")
    with pytest.raises(RunnerError, match=r"no migrations folder at .*supabase/migrations"):
        run(ctx)


def test_it_raises_a_clear_error_without_a_supabase_folder():
    ctx, _ = _ctx(None)
    with pytest.raises(RunnerError, match="--supabase-dir"):
        run(ctx)


def test_it_compares_with_the_target_history(tmp_path):
    folder = supabase_folder(
        tmp_path,
        {
            "20240101000000_a.sql": SQL,
            "20240115000000_late_branch.sql": SQL,
            "20240201000000_b.sql": SQL,
            "20240301000000_c.sql": SQL,
        },
    )
    history = [
        ("20240101000000", "a", ["create table t (id int)"]),
        ("20240201000000", "b", ["create table t (id int)"]),
        ("20240210000000", "hotfix", ["alter table t add x int"]),
    ]
    with target_database(history) as url:
        ctx, _ = _ctx(folder, database_url=url, target_name="staging")
        result = run(ctx)

    assert not result.ok
    data = result.data["history"]
    assert data["applied"] == ["20240101000000_a.sql", "20240201000000_b.sql"]
    assert data["pending"] == ["20240301000000_c.sql"]
    assert data["pending_older_than_newest_applied"] == ["20240115000000_late_branch.sql"]
    assert [r["version"] for r in data["remote_only"]] == ["20240210000000"]
    assert data["newest_applied"] == "20240201000000"
    assert "Remote migration versions not found" in data["cli_refusal"]
    errors = _codes(result.data["errors"])
    assert errors == {
        "remote_only": ["20240210000000"],
        "pending_older_than_newest_applied": ["20240115000000_late_branch.sql"],
    }
    assert "staging: 2 applied, 2 pending, 1 remote-only; 2 errors" in result.summary


def test_it_only_warns_about_older_pending_files_with_include_all(tmp_path):
    folder = supabase_folder(
        tmp_path,
        {"20240101000000_a.sql": SQL, "20240115000000_late.sql": SQL, "20240201000000_b.sql": SQL},
    )
    history = [("20240101000000", "a", None), ("20240201000000", "b", None)]
    with target_database(history) as url:
        ctx, _ = _ctx(folder, database_url=url, options={"include_all": True})
        result = run(ctx)

    assert result.ok, result.summary
    assert _codes(result.data["warnings"]) == {
        "pending_older_than_newest_applied": ["20240115000000_late.sql"]
    }
    assert result.data["history"]["cli_would_apply"] == ["20240115000000_late.sql"]


def test_it_treats_a_target_without_history_as_nothing_applied(tmp_path):
    folder = supabase_folder(tmp_path, {"20240101000000_a.sql": SQL})
    with target_database(None) as url:
        ctx, _ = _ctx(folder, database_url=url)
        result = run(ctx)
    assert result.ok
    assert result.data["history"]["pending"] == ["20240101000000_a.sql"]
    assert result.data["history"]["applied"] == []


def test_it_blocks_a_pending_odd_version_but_only_warns_about_an_applied_one(tmp_path):
    folder = supabase_folder(
        tmp_path, {"20230101_old.sql": SQL, "20240101000000_a.sql": SQL, "2024020100_new.sql": SQL}
    )
    history = [("20230101", "old", None), ("20240101000000", "a", None)]
    with target_database(history) as url:
        ctx, _ = _ctx(folder, database_url=url)
        result = run(ctx)

    assert not result.ok
    assert _codes(result.data["errors"]) == {"not_14_digits": ["2024020100_new.sql"]}
    assert _codes(result.data["warnings"]) == {"not_14_digits": ["20230101_old.sql"]}
    assert "rename it now" in result.data["errors"][0]["message"]


def test_it_applies_a_shorter_but_later_version_without_include_all(tmp_path):
    # String order, as the CLI: '202402010000' > '20240101000000' although it is a smaller number.
    folder = supabase_folder(tmp_path, {"20240101000000_a.sql": SQL, "202402010000_b.sql": SQL})
    with target_database([("20240101000000", "a", None)]) as url:
        ctx, _ = _ctx(folder, database_url=url)
        result = run(ctx)
    assert result.data["history"]["pending"] == ["202402010000_b.sql"]
    assert result.data["history"]["pending_older_than_newest_applied"] == []
    assert result.data["history"]["cli_refusal"] is None


def test_it_fails_with_the_target_name_when_the_database_is_down(tmp_path):
    folder = supabase_folder(tmp_path, {"20240101000000_a.sql": SQL})
    ctx, _ = _ctx(
        folder, database_url="postgresql://postgres:pw@127.0.0.1:1/postgres", target_name="staging"
    )
    with pytest.raises(RunnerError) as excinfo:
        run(ctx)
    message = str(excinfo.value)
    assert message.startswith("could not connect to staging (127.0.0.1:1): ")
    assert "pw" not in message


def test_it_prints_json_and_exits_1_through_manage_py(tmp_path):
    folder = supabase_folder(tmp_path, {"20240101000000_a.sql": SQL, "20240101000000_b.sql": SQL})
    out, err = StringIO(), StringIO()
    with pytest.raises(SystemExit) as excinfo:
        call_command(
            "runner", "order", "--supabase-dir", str(folder), "--json", stdout=out, stderr=err
        )
    assert excinfo.value.code == 1
    result = json.loads(out.getvalue())
    assert result["ok"] is False
    assert result["data"]["errors"][0]["code"] == "duplicate_version"


def test_it_exits_0_for_a_clean_folder_from_a_real_manage_py(tmp_path):
    folder = supabase_folder(tmp_path, {"20240101000000_a.sql": SQL})
    manage = Path(__file__).resolve().parents[3] / "manage.py"
    proc = subprocess.run(
        [sys.executable, str(manage), "runner", "order", "--supabase-dir", str(folder), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["data"]["files"][0]["filename"] == "20240101000000_a.sql"
