"""lint_runbook: the shared runbook's three CLI mistakes, found with their lines."""

from __future__ import annotations

import pytest

from checklists.runbooks.lint import find_commands, lint_runbook, split_commands
from migrations_ops.models import DEFAULT_CHECK_COMMANDS


def by_code(result):
    found = {}
    for f in result.findings:
        found.setdefault(f.code, []).append(f)
    return found


def test_it_finds_the_three_cli_mistakes_of_the_shared_runbook(runbook_v1_text):
    found = by_code(lint_runbook(runbook_v1_text, check_commands=DEFAULT_CHECK_COMMANDS))

    (dry_run,) = found["migration-up-no-dry-run"]
    assert (dry_run.severity, dry_run.line) == ("error", 44)
    assert dry_run.command == "supabase migration up --linked --include-all --dry-run"
    assert "has no `--dry-run`" in dry_run.problem
    assert "supabase db push --linked --include-all --dry-run" in dry_run.suggestion
    assert "only lists" in dry_run.suggestion

    down = found["migration-down-destroys-data"]
    remote = next(f for f in down if f.line == 84)
    assert remote.severity == "error"
    assert "has no `--to` flag" in remote.problem and "--last" in remote.problem
    assert "you will lose all data" in remote.problem
    assert "supabase migration repair --status reverted <version>" in remote.suggestion
    assert "restore" in remote.suggestion
    # §6 offers `migration down` as a rollback path: flagged too, less severely.
    offered = next(f for f in down if f.line == 100)
    assert offered.severity == "warning"

    (schema_only,) = found["db-dump-schema-only"]
    assert (schema_only.severity, schema_only.line) == ("error", 70)
    assert "schema only" in schema_only.problem and "holds no data" in schema_only.problem
    assert "--data-only" in schema_only.suggestion
    (project_ref,) = found["db-dump-no-project-ref"]
    assert project_ref.line == 70 and "no `--project-ref` flag" in project_ref.problem


def test_it_reports_nothing_else_on_the_shared_runbook(runbook_v1_text):
    result = lint_runbook(runbook_v1_text, check_commands=DEFAULT_CHECK_COMMANDS)
    assert sorted({f.code for f in result.findings}) == [
        "db-dump-no-project-ref",
        "db-dump-schema-only",
        "migration-down-destroys-data",
        "migration-up-no-dry-run",
    ]
    assert result.cli_version == "supabase/cli@8c792b59"
    assert all(f.reference.startswith("github.com/supabase/cli ") for f in result.findings)


@pytest.mark.parametrize(
    "command",
    [
        "supabase db push --linked --include-all --dry-run",
        "supabase migration repair --status reverted 20250101000000 --linked",
        'supabase db dump --db-url "$URL" --data-only -s app,public -f data.sql',
        "supabase migration list --linked",
        "supabase migration down --local --last 2",
        "npx supabase start -x studio",
        "supabase --debug migration up --include-all",
    ],
)
def test_it_accepts_real_commands(command):
    assert lint_runbook(f"# R\n\n- [ ] Run `{command}`.\n").findings == []


@pytest.mark.parametrize(
    ("command", "code"),
    [
        ("supabase db push --linked --local", "exclusive-flags"),
        ("supabase migration list --verbose", "unknown-flag"),
        ("supabase migrate up", "unknown-command"),
        ("supabase db reset --linked", "db-reset-remote"),
        ('supabase migration down --db-url "$PROD"', "migration-down-destroys-data"),
    ],
)
def test_it_flags_wrong_commands(command, code):
    findings = lint_runbook(f"# R\n\n- [ ] Run `{command}`.\n").findings
    assert [f.code for f in findings] == [code]
    assert findings[0].line == 3


def test_it_reads_fenced_shell_blocks_with_continuations_and_substitutions():
    text = (
        "# R\n\n```bash\n"
        'supabase db dump --db-url "$URL" \\\n'
        "  --file backups/$(date -u +%Y%m%dT%H%M%SZ)_x.sql --data-only\n"
        "supabase migration up --dry-run\n"
        "```\n\n```sql\nselect 'supabase migration up --dry-run';\n```\n"
    )
    result = lint_runbook(text)
    assert [(f.code, f.line) for f in result.findings] == [("migration-up-no-dry-run", 6)]


def test_it_tells_which_pnpm_commands_the_portal_does_not_run():
    text = "# R\n\n- [ ] Run `pnpm run lint` and `pnpm run e2e`.\n"
    findings = lint_runbook(text, check_commands=DEFAULT_CHECK_COMMANDS).findings
    assert [(f.code, f.severity, f.command) for f in findings] == [
        ("not-a-check-command", "info", "pnpm run e2e")
    ]


def test_it_only_reads_commands_from_code_not_prose():
    text = "# R\n\nWe never run supabase migration up --dry-run here.\n\n- [ ] ok\n"
    assert find_commands(text) == []


def test_it_splits_shell_lines_at_operators():
    assert split_commands("supabase start && pnpm run lint; echo 'a;b'") == [
        ["supabase", "start"],
        ["pnpm", "run", "lint"],
        ["echo", "a;b"],
    ]
