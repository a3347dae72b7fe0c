"""risk reports what each pending statement does to staging's real tables; staging never changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from migrations_ops.pg import risk_report
from migrations_ops.pg.apply import MigrationFile, apply_files
from migrations_ops.runners import get_runner, risk
from tests.migrations_ops.runners.test_dry_run import staging_state

ROOT = Path(__file__).resolve().parents[3]
DEMO = ROOT / "migrations_ops" / "demo_supabase"

INIT = """
create table public.accounts (
  id bigint generated always as identity primary key,
  name text not null,
  balance bigint not null default 0,
  note text
);
create table public.events (
  id bigint generated always as identity primary key,
  account_id bigint not null references public.accounts (id),
  kind text not null,
  at timestamptz not null default now()
);
"""
ROWS = 30_000
DATA = """
insert into public.accounts (name, note)
select case when i % 10 = 0 then 'a rather long name ' || i else 'n' || i end,
       case when i % 3 = 0 then null else 'note' end
from generate_series(1, 30000) i;
insert into public.events (account_id, kind)
select i, case when i % 6 = 0 then 'debug' else 'login' end from generate_series(1, 30000) i;
analyze;
"""
PENDING = {
    "20240102000000_index": "create index events_kind on public.events (kind);\n",
    "20240103000000_cleanup": (
        "alter table public.accounts drop column note;\n"
        "\n"
        "delete from public.events where kind = 'debug';\n"
    ),
    "20240104000000_backfill": (
        "alter table public.accounts add column tier text;\n"
        "update public.accounts set tier = 'basic';\n"
    ),
    # Fails on the copy (the long names do not fit): reported all the same, and counted.
    "20240105000000_narrow": "alter table public.accounts alter column name type varchar(8);\n",
}
KEYS = {"file", "line", "tables", "lock", "rewrites", "destroys", "hazards"}


@pytest.fixture
def project(repo, staging):
    repo.migration("20240101000000", "init", INIT)
    for name, text in PENDING.items():
        version, label = name.split("_", 1)
        repo.migration(version, label, text)
    repo.apply_to(staging, "20240101000000")
    with psycopg.connect(staging, autocommit=True) as conn:
        conn.execute(DATA)
    return repo


def by_file(data: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for statement in data["statements"]:
        out.setdefault(statement["file"].split("_", 1)[1].removesuffix(".sql"), []).append(
            statement
        )
    return out


def codes(statement: dict) -> list[str]:
    return [h["code"] for h in statement["hazards"]]


def test_it_reports_locks_hazards_and_losses_per_statement_and_never_changes_staging(
    project, staging
):
    before = staging_state(staging)

    result = risk.run(project.context(staging, lock_hold_warn_seconds=0))

    assert result.ok, result.summary  # informational, even though the dry run failed
    assert staging_state(staging) == before
    with psycopg.connect(staging) as conn:
        assert conn.execute("select count(*) from public.events").fetchone() == (ROWS,)
    data = result.data
    assert json.loads(json.dumps(data)) == data
    assert all(set(s) >= KEYS for s in data["statements"])
    files = by_file(data)

    (index,) = files["index"]
    assert (index["line"], index["tables"], index["lock"]) == (1, ["public.events"], "SHARE")
    assert index["lock_observed"] == "SHARE" and index["blocks"][0].startswith("writes")
    assert codes(index) == ["create_index_not_concurrently"]
    assert index["table_sizes"] == [
        {"table": "public.events", "rows": ROWS, "bytes": index["table_sizes"][0]["bytes"]}
    ]
    assert index["measured"] == "measured on the scratch copy"
    assert index["seconds_on_scratch"] > 0 and index["lock_held_seconds"] > 0
    assert index["risk"] == "medium"

    drop, delete = files["cleanup"]
    assert (drop["line"], drop["lock"], drop["destroys"]) == (1, "ACCESS EXCLUSIVE", ROWS * 2 // 3)
    # ...and its ACCESS EXCLUSIVE on accounts is held while the DELETE reads events.
    assert codes(drop) == ["drop_breaks_clients", "lock_held_by_later_statements"]
    assert drop["destroys_detail"][0]["what"] == "non-null values"
    assert (delete["line"], delete["lock"], delete["destroys"]) == (3, "ROW EXCLUSIVE", ROWS // 6)
    assert delete["risk"] == "high"

    add, update = files["backfill"]
    assert add["lock"] == "ACCESS EXCLUSIVE" and add["rewrites"] is False
    held = next(h for h in add["hazards"] if h["code"] == "lock_held_by_later_statements")
    assert "is still held while line 2 (UPDATE)" in held["message"]
    assert (
        "measured on the scratch copy: ACCESS EXCLUSIVE on public.accounts held" in held["message"]
    )
    assert add["lock_held_seconds"] > update["seconds_on_scratch"]
    assert codes(update) == ["update_without_where"]

    (narrow,) = files["narrow"]
    assert narrow["rewrites"] is True and narrow["lock"] == "ACCESS EXCLUSIVE"
    assert codes(narrow) == ["alter_column_type_rewrites"]
    assert narrow["destroys"] == ROWS // 10  # 'a rather long name ...' does not fit varchar(8)
    assert narrow["lock_observed"] is None  # it failed on the copy: nothing was held
    assert data["dry_run"]["ok"] is False
    assert any(note.startswith("the dry run did not succeed") for note in data["notes"])

    assert data["level"] == "high"
    assert data["reasons"][1].startswith("20240103000000_cleanup.sql line 1: destroys 20,000")
    assert [(e["file"][:14], e["count"]) for e in data["data_loss"]] == [
        ("20240103000000", ROWS * 2 // 3),
        ("20240103000000", ROWS // 6),
        ("20240105000000", ROWS // 10),
    ]
    assert "release risk high: 6 statement(s) in 4 file(s)" in result.summary
    # What the report and the evidence pack will show: riskiest first, then the ledger.
    page = risk_report.markdown(data)
    assert page.startswith("**Release risk: high**")
    assert page.index("| high | 20240103000000_cleanup.sql:1 |") < page.index("| medium |")
    assert "- 20240103000000_cleanup.sql:3 public.events: 5,000 rows" in page
    assert project.leftovers() == []


def test_every_predicted_lock_matches_the_one_observed_on_the_copy(project, staging):
    result = risk.run(project.context(staging))

    observed = [s for s in result.data["statements"] if s["lock_observed"]]
    assert len(observed) == 5
    assert [(s["lock_predicted"], s["lock_source"]) for s in observed] == [
        (s["lock_observed"], "predicted and observed on the scratch copy") for s in observed
    ]


def test_a_large_table_makes_the_same_statement_high_risk(project, staging):
    result = risk.run(project.context(staging, large_table_rows=10_000))

    (index,) = by_file(result.data)["index"]
    assert index["risk"] == "high"
    assert index["risk_reasons"][0].startswith("high: reads all of public.events (~30,000 rows")


def test_it_reports_what_it_cannot_parse_without_failing(repo, staging):
    repo.migration("20240101000000", "init", INIT)
    repo.migration("20240102000000", "typo", "select 1;\ncreate tabel x (id int);\n")
    repo.apply_to(staging, "20240101000000")

    result = risk.run(repo.context(staging))

    assert result.ok
    statement = result.data["statements"][1]
    assert statement["file"] == "20240102000000_typo.sql"
    assert statement["parse_error"] == 'syntax error at or near "tabel" (line 2)'
    assert statement["risk"] == "medium" and statement["lock"] is None


def test_it_falls_back_to_the_copys_catalog_when_staging_cannot_be_read(repo):
    repo.migration("20240101000000", "init", INIT)
    repo.migration("20240102000000", "index", "create index on public.events (kind);")
    unreachable = "postgresql://postgres@127.0.0.1:1/staging"

    result = risk.run(repo.context(unreachable, applied_versions=["20240101000000"]))

    assert result.ok
    (statement,) = result.data["statements"]
    assert statement["lock"] == "SHARE" and codes(statement) == ["create_index_not_concurrently"]
    assert statement["table_sizes"][0]["rows"] in (0, None)
    assert result.data["target"]["source"] == "the scratch copy"
    assert any("data loss is not counted" in note for note in result.data["notes"])


def test_it_still_analyses_when_the_dry_run_cannot_run(project, staging):
    ctx = project.context(staging)
    ctx.fixtures = [Path("supabase/fixtures/missing.sql")]

    result = risk.run(ctx)

    assert result.ok
    assert result.data["notes"][0].startswith("the dry run could not run (file not found")
    (index,) = by_file(result.data)["index"]
    assert (index["lock"], index["lock_observed"], index["measured"]) == ("SHARE", None, None)
    assert by_file(result.data)["cleanup"][0]["destroys"] == ROWS * 2 // 3


def demo_staging(url: str) -> None:
    """The demo's staging: Supabase basics, the two applied files, the seed, 20,000 members."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute((DEMO / "tests/fixtures/roles.sql").read_text())
        files = [
            MigrationFile.from_path(DEMO / "migrations" / name)
            for name in ("20250101000000_create_app.sql", "20250115000000_add_contributions.sql")
        ]
        assert apply_files(conn, files, log=lambda s, t: None).ok
        conn.execute((DEMO / "tests/fixtures/seed.sql").read_text())
        conn.execute(
            "insert into app.members (group_id, user_id, full_name) "
            "select 1 + i % 2, gen_random_uuid(), 'member ' || i from generate_series(1, 20000) i"
        )
        conn.execute("analyze")


def test_it_flags_the_demo_releases_unique_index_built_without_concurrently(staging):
    demo_staging(staging)
    done = subprocess.run(
        [sys.executable, "manage.py", "runner", "risk", "--supabase-dir", str(DEMO),
         "--database-url", staging, "--fixture", str(DEMO / "tests/fixtures/roles.sql"),
         "--schema", "app", "--schema", "public", "--json"],
        cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["ok"] is True
    assert result["data"]["pending"] == ["20250201090000_add_member_phone.sql"]
    index = next(s for s in result["data"]["statements"] if s["command"] == "CREATE UNIQUE INDEX")
    assert (index["file"], index["line"], index["lock"]) == (
        "20250201090000_add_member_phone.sql", 4, "SHARE")  # fmt: skip
    (hazard,) = index["hazards"]
    assert hazard["code"] == "create_index_not_concurrently"
    assert hazard["found_by"] == ["portal", "squawk:require-concurrent-index-creation"]
    assert "own, or with the project's standalone mode" in hazard["safer"]
    assert index["table_sizes"][0]["rows"] == 20_002
    assert result["data"]["level"] == "medium"


def test_it_is_registered_as_a_runner():
    assert get_runner("risk") is risk.run
