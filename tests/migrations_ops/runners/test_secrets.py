"""Runner ``secrets``: which required names are set, never their values."""

from __future__ import annotations

import json
import logging

import pytest

from migrations_ops.runners.base import RunContext, RunnerError
from migrations_ops.runners.secrets import DEFAULT_REQUIRED, run

SECRET_VALUE = "sbp_do_not_leak_7f3a9c0e1d2b"


def _run(options: dict) -> tuple[dict, list[tuple[str, str]]]:
    lines: list[tuple[str, str]] = []
    ctx = RunContext(options=options, log=lambda stream, text: lines.append((stream, text)))
    return run(ctx).as_dict(), lines


def test_it_reports_set_and_missing_names_from_a_ci_report():
    result, lines = _run(
        {
            "environment": {
                "SUPABASE_ACCESS_TOKEN": SECRET_VALUE,
                "SUPABASE_STAGING_PROJECT_REF": "abcdefghijklmnopqrst",
                "SUPABASE_PROJECT_REF": "",
            }
        }
    )
    assert result["ok"] is False
    data = result["data"]
    assert data["required"] == DEFAULT_REQUIRED
    assert data["present"] == ["SUPABASE_ACCESS_TOKEN", "SUPABASE_STAGING_PROJECT_REF"]
    assert data["missing"] == ["SUPABASE_PROJECT_REF", "PROD_DATABASE_URL"]
    assert data["empty"] == ["SUPABASE_PROJECT_REF"]
    assert data["absent"] == ["PROD_DATABASE_URL"]
    assert result["summary"].startswith(
        "2 of 4 required secrets missing in the reported environment: "
        "SUPABASE_PROJECT_REF (empty), PROD_DATABASE_URL"
    )
    assert ("error", "SUPABASE_PROJECT_REF: empty") in lines
    assert ("info", "SUPABASE_ACCESS_TOKEN: set") in lines


def test_it_never_puts_a_value_in_the_result_or_the_log(monkeypatch, caplog):
    monkeypatch.setenv("PROD_DATABASE_URL", f"postgresql://u:{SECRET_VALUE}@db/x")
    monkeypatch.setenv("SUPABASE_ACCESS_TOKEN", SECRET_VALUE)
    caplog.set_level(logging.DEBUG)
    ctx = RunContext(options={"required": ["SUPABASE_ACCESS_TOKEN", "PROD_DATABASE_URL"]})

    result = run(ctx)  # logs through the default logger, captured by caplog

    assert result.ok
    everything = json.dumps(result.as_dict()) + caplog.text
    assert "SUPABASE_ACCESS_TOKEN: set" in caplog.text
    assert SECRET_VALUE not in everything
    assert "postgresql://" not in everything


def test_it_never_puts_a_value_in_an_error():
    with pytest.raises(RunnerError) as excinfo:
        _run({"required": ["SUPABASE_ACCESS_TOKEN", SECRET_VALUE + "-pasted"]})
    assert "entries 2 of" in str(excinfo.value)
    assert SECRET_VALUE not in str(excinfo.value)


def test_it_reads_the_worker_environment_by_default(monkeypatch):
    monkeypatch.setenv("RP_TEST_PRESENT", "x")
    monkeypatch.setenv("RP_TEST_BLANK", "   ")
    monkeypatch.delenv("RP_TEST_ABSENT", raising=False)
    result, _ = _run({"required": "RP_TEST_PRESENT, RP_TEST_BLANK,RP_TEST_ABSENT"})
    assert result["data"]["source"] == "worker environment"
    assert result["data"]["present"] == ["RP_TEST_PRESENT"]
    assert result["data"]["empty"] == ["RP_TEST_BLANK"]
    assert result["data"]["absent"] == ["RP_TEST_ABSENT"]


def test_it_accepts_a_list_of_names_and_booleans_from_ci():
    names, _ = _run({"required": ["A", "B"], "environment": ["A", "B"]})
    assert names["ok"] is True
    assert names["summary"] == "all 2 required secrets are set in the reported names"
    flags, _ = _run({"required": ["A", "B"], "environment": {"A": True, "B": False}})
    assert flags["data"]["missing"] == ["B"]


def test_it_refuses_an_environment_it_cannot_read():
    with pytest.raises(RunnerError, match="dict of name") as excinfo:
        _run({"environment": "SUPABASE_ACCESS_TOKEN=" + SECRET_VALUE})
    assert SECRET_VALUE not in str(excinfo.value)


def test_it_refuses_an_empty_required_list():
    with pytest.raises(RunnerError, match="at least one"):
        _run({"required": []})
