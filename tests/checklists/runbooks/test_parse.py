"""parse_runbook: the shared runbook's steps, owners, evidence and history; bad input."""

from __future__ import annotations

import pytest

from checklists.runbooks.parse import (
    MAX_BYTES,
    RunbookImportError,
    parse_runbook,
    parse_runbook_bytes,
)

PREFLIGHT = "3. Pre-flight Checks (Run Before Each Release)"
CHECKLIST = "6. Runbook Checklist (Per Release)"

# (section, owner, evidence kinds, requires evidence, is sign-off, text starts with)
EXPECTED = [
    (PREFLIGHT, "release_engineer", ["job:order"], True, False, "Confirm `supabase/migrations`"),
    (PREFLIGHT, "release_engineer", ["job:commands"], False, False, "Run `pnpm run lint`"),
    (PREFLIGHT, "release_engineer", ["job:dry_run"], True, False, "Validate staged migration"),
    (PREFLIGHT, "qa_lead", ["job:fixtures"], True, False, "Ensure RLS fixtures"),
    (PREFLIGHT, "release_engineer", ["job:pending"], True, False, "Review Supabase dashboard"),
    (PREFLIGHT, "release_engineer", ["job:secrets", "ci:secrets"], False, False, "Verify secrets"),
    (CHECKLIST, "release_engineer", ["ci:staging_apply"], True, False, "Staging migrations"),
    (CHECKLIST, "qa_lead", ["ci:rls_docker", "job:rls"], True, False, "RLS Docker test suite"),
    (CHECKLIST, "sre", ["backup", "snapshot_ref"], True, False, "Manual Supabase backup"),
    (CHECKLIST, "sre", ["rollback_plan"], True, False, "Rollback commands prepared"),
    (CHECKLIST, "qa_lead", ["link", "file"], False, False, "Application smoke tests"),
    (CHECKLIST, "platform_lead", ["runbook_lint"], False, False, "Runbook review completed"),
    (CHECKLIST, "release_owner", [], False, True, "Release owner sign-off"),
]


def test_it_reads_the_shared_runbooks_thirteen_steps_with_owners_and_evidence(runbook_v1_text):
    parsed = parse_runbook(runbook_v1_text)
    assert parsed.title == "Database Migration Runbook"
    assert len(parsed.steps) == 13
    assert [s.section for s in parsed.steps].count(PREFLIGHT) == 6
    assert [s.section for s in parsed.steps].count(CHECKLIST) == 7
    got = [
        (s.section, s.owner, s.evidence_kinds, s.requires_evidence, s.is_signoff)
        for s in parsed.steps
    ]
    assert got == [row[:5] for row in EXPECTED]
    for step, row in zip(parsed.steps, EXPECTED, strict=True):
        assert step.text.startswith(row[5])
    assert [s.position for s in parsed.steps] == list(range(1, 14))


def test_it_joins_continuation_lines_and_keeps_inline_code(runbook_v1_text):
    step = parse_runbook(runbook_v1_text).steps[2]
    assert step.text == (
        "Validate staged migration by running "
        "`supabase migration up --linked --include-all --dry-run` against staging."
    )
    assert step.line == 43


def test_it_marks_only_the_release_owner_step_as_sign_off(runbook_v1_text):
    steps = parse_runbook(runbook_v1_text).steps
    signoffs = [s for s in steps if s.is_signoff]
    assert [s.text for s in signoffs] == ["Release owner sign-off: `@<name>`"]
    assert signoffs[0].owner == "release_owner"


def test_it_reads_the_change_log_table_as_history(runbook_v1_text):
    parsed = parse_runbook(runbook_v1_text)
    assert parsed.history == [
        {
            "date": "2025-01-19",
            "by": "Initial draft",
            "notes": "First publication of migration runbook and release checklist.",
        }
    ]


def test_it_lists_sections_with_their_subsections(runbook_v1_text):
    sections = parse_runbook(runbook_v1_text).sections
    assert [s["title"] for s in sections][2] == PREFLIGHT
    backup = next(s for s in sections if s["title"].startswith("5."))
    assert [sub["title"] for sub in backup["subsections"]] == [
        "5.1 Backup (Prior to Production Apply)",
        "5.2 Rollback (If Migration Fails)",
    ]


def test_it_gives_each_step_a_stable_unique_key(runbook_v1_text):
    steps = parse_runbook(runbook_v1_text).steps
    keys = [s.key for s in steps]
    assert len(set(keys)) == 13
    assert keys[6] == "staging-migrations-applied-successfully-ci"
    assert keys[7] == "rls-docker-test-suite-passed"
    assert keys[0] == "confirm-supabase-migrations-order-chronological"
    # Same text, same key, whatever else changed around it.
    other = runbook_v1_text.replace("## 4. Automated Staging Validation", "## 4. CI")
    assert [s.key for s in parse_runbook(other).steps] == keys


def test_it_keeps_keys_unique_when_steps_start_alike():
    text = (
        "# R\n\n## S\n\n"
        "- [ ] Check the staging database now\n"
        "- [ ] Check the staging database later\n"
    )
    keys = [s.key for s in parse_runbook(text).steps]
    assert keys[0] == "check-staging-database-now"
    assert keys[1] != keys[0]


def test_it_ignores_task_syntax_inside_code_blocks():
    text = "# R\n\n## S\n\n```\n- [ ] not a step\n```\n\n- [ ] A real step\n"
    assert [s.text for s in parse_runbook(text).steps] == ["A real step"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"# Title\n\nJust prose.\n\n- a plain list item\n", "No checklist found"),
        (b"No heading at all\n\n- [ ] a step\n", "no title"),
        (b"# T\n\n## S\n\n- [ ] Same step\n- [ ] same step\n", "Duplicate step on lines 5 and 6"),
        (b"# T\n\n- [ ] Caf\xe9 step\n", r"not UTF-8 text: byte 14 \(line 3\) is 0xe9"),
        (b"# T\n\n- [ ] a\x00b\n", "NUL byte on line 3"),
    ],
)
def test_it_refuses_bad_input_with_a_clear_message(source, message):
    with pytest.raises(RunbookImportError, match=message):
        parse_runbook_bytes(source)


def test_it_refuses_a_file_over_one_megabyte():
    big = b"# T\n\n- [ ] step\n" + b"x" * MAX_BYTES
    with pytest.raises(RunbookImportError, match=r"at most 1,048,576 bytes \(1 MB\)"):
        parse_runbook_bytes(big)


def test_it_refuses_a_change_log_that_is_not_a_table(runbook_v1_text):
    separator = "| ---------- | ------------- | " + "-" * 61 + " |"
    broken = runbook_v1_text.replace(separator, "| ---------- | ------------- |")
    with pytest.raises(RunbookImportError, match=r"Change Log table .* could not be read"):
        parse_runbook(broken)


def test_it_refuses_a_change_log_row_without_a_date(runbook_v1_text):
    broken = runbook_v1_text.replace("| 2025-01-19 |", "| yesterday  |")
    with pytest.raises(RunbookImportError, match=r"line 110: the date 'yesterday'"):
        parse_runbook(broken)


def test_it_refuses_a_change_log_without_the_expected_columns(runbook_v1_text):
    broken = runbook_v1_text.replace(
        "| Date (UTC) | Updated By    |", "| When       | Who           |"
    )
    with pytest.raises(RunbookImportError, match="needs the columns Date"):
        parse_runbook(broken)


def test_it_accepts_a_runbook_without_a_change_log():
    parsed = parse_runbook("# T\n\n## Steps\n\n- [ ] Do the thing\n")
    assert parsed.history == []
    assert parsed.steps[0].section == "Steps"
