"""squawk gives a second opinion: its rules are cited by name, and its absence is no failure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from migrations_ops.pg import hazards, squawk
from migrations_ops.pg.apply import MigrationFile

ROOT = Path(__file__).resolve().parents[3]


def test_every_rule_the_portal_cites_is_one_squawk_knows():
    binary = squawk.find_binary()
    assert binary, "squawk-cli is a runtime dependency"
    cited = {rule for kind in hazards.KINDS.values() for rule in kind.squawk_rules}
    for rule in sorted(cited | set(squawk.DEFAULT_EXCLUDED)):
        done = subprocess.run(
            [binary, "--exclude", rule, "--stdin-filepath", "x.sql"],
            input="select 1;", capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"squawk does not know {rule}: {done.stderr}"


def test_it_maps_each_finding_to_the_statement_that_holds_its_line():
    text = "-- two statements\nselect 1;\n\ncreate index i\n  on accounts (name);\n"
    findings, note = squawk.run([MigrationFile.from_text("20240101000000_x.sql", text)])

    assert note is None
    assert [(f.rule, f.line, f.statement_index) for f in findings] == [
        ("require-concurrent-index-creation", 4, 1)
    ]


def test_it_reads_the_bundles_files_inside_the_jobs_sandbox(sandbox):
    text = "create index i on accounts (name);\n"
    files = [MigrationFile.from_text("20240101000000_x.sql", text)]

    findings, note = squawk.run(files, sandbox=sandbox)

    assert note is None
    assert [(f.file, f.rule) for f in findings] == [
        ("20240101000000_x.sql", "require-concurrent-index-creation")
    ]


def test_without_squawk_the_report_says_so(monkeypatch):
    monkeypatch.setattr(squawk, "find_binary", lambda: None)

    findings, note = squawk.run([MigrationFile.from_text("20240101000000_x.sql", "select 1;")])

    assert findings == [] and note and note.startswith("squawk is not installed")


def test_the_library_never_imports_django():
    modules = [
        "release_risk", "risk_report", "access_matrix", "supabase_lints", "row_sample",
        "lock_recorder", "squawk", "target_facts",
    ]  # fmt: skip
    code = "; ".join(f"import migrations_ops.pg.{m}" for m in modules)
    code += "; import sys; print('django' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"
