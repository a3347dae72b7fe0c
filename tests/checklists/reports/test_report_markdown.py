"""release_report_markdown: the checklist as Markdown for release notes or a ticket."""

from __future__ import annotations

import re

import pytest
from django.db import transaction
from markdown_it import MarkdownIt

from checklists.models import ChecklistItem, Evidence
from checklists.reports.release_report import md_code, md_link, md_text, release_report_markdown
from release_portal.audit.models import AuditChainHead
from release_portal.audit.services import audit_record
from tests.checklists.reports.factories import EvidenceFactory, items_by_position

BASE = "https://releases.example.com/"


def render(markdown: str) -> str:
    return MarkdownIt("commonmark").enable("table").render(markdown)


def test_it_states_the_release_facts(release):
    report = release_report_markdown(release, base_url=BASE)
    assert report.startswith("# Release report: Ledger: add savings groups\n")
    assert f"- **Release:** [#{release.pk}]({BASE}releases/{release.pk}/)" in report
    assert "- **Project:** Ibimina (`ibimina`)" in report
    assert f"- **Commit:** `{release.commit_sha}`" in report
    assert "- **Owner:** releng" in report
    assert "- **State:** Draft" in report
    version = release.runbook_version
    assert f"- **Runbook:** Database Migration Runbook v{version.number} " in report
    assert f"(sha256 `{version.source_sha256[:12]}`)" in report
    assert f"- **Release digest:** `{release.digest}`" in report


def test_it_lists_the_checklist_by_runbook_section_with_who_and_when(release):
    report = release_report_markdown(release)
    pre, per = report.index("### 3. Pre-flight Checks"), report.index("### 6. Runbook Checklist")
    assert report.index("## Checklist") < pre < per
    assert "3 of 5 items settled." in report
    lines = report.splitlines()
    assert (
        "- [x] Confirm `supabase/migrations` order is chronological and filenames use UTC "
        "timestamps. — done by releng, 2026-03-02 09:15 UTC"
    ) in lines
    assert (
        "- [ ] Ensure RLS fixtures (`supabase/tests/fixtures/*`) match expected policies. — "
        "**stale**: was done by qa, 2026-03-02 09:15 UTC; needs doing again for the current digest"
    ) in lines
    assert (
        "- [x] Manual Supabase backup captured and logged. — **n/a**: No data changes in this "
        "release (sre, 2026-03-02 10:30 UTC)"
    ) in lines
    assert "- [ ] Release owner sign-off: `@<name>` — open (Release owner)" in lines
    assert "  - Comment: Order checked twice" in lines
    # Task list items in the order of the runbook.
    ticks = [line[:5] for line in lines if re.match(r"- \[[ x]\] ", line)]
    assert ticks == ["- [x]", "- [ ]", "- [x]", "- [x]", "- [ ]"]


def test_it_shows_the_evidence_with_absolute_job_links(release):
    report = release_report_markdown(release, base_url=BASE)
    job = release.jobs.get()
    assert (
        f"  - Evidence: Job: **passed** — [job #{job.pk} (Migration order)]"
        f"({BASE}jobs/{job.pk}/) — 14 files in UTC order — releng, "
    ) in report
    assert (
        "  - Evidence: CI run: **passed** — Supabase Migrations \\& Edge Functions #812 — "
        "[CI run](https://github.com/example/app/actions/runs/812) — ci, "
    ) in report
    upload = Evidence.objects.get(kind="file", item__release=release)
    # The file links to where the evidence pack keeps it, beside report.md.
    assert (
        f"file [smoke notes.txt](evidence/{upload.pk}-smoke_notes.txt) sha256 `abababababab`"
    ) in report
    assert "Link: **attached** — fixture review — [link](https://example.com/fixtures)" in report
    assert "*for older migrations*" in report


def test_it_names_job_pages_by_path_without_a_base_url(release):
    # A relative link means nothing pasted into a ticket: the path is shown, not linked.
    job = release.jobs.get()
    report = release_report_markdown(release)
    assert f"job #{job.pk} (Migration order): `/jobs/{job.pk}/`" in report


def test_it_lists_migration_files_and_sign_offs(release):
    report = release_report_markdown(release)
    for f in release.migration_files.all():
        assert f"| `{f.filename}` | `{f.sha256[:12]}` | {f.size} bytes |" in report
    assert "| `20250120080000_rls_policies.down.sql` |" in report
    assert (
        f"| Release owner | releng | 2026-03-02 10:30 UTC | `{release.digest[:12]}` | current |"
    ) in report
    assert (
        "| QA lead | qa | 2026-03-02 09:15 UTC | `111111111111` | **stale**: migration files "
        "changed |"
    ) in report
    html = render(report)
    assert html.count("<table>") == 2


def test_it_ends_with_the_change_log_head_at_report_time(release):
    head = AuditChainHead.objects.get()
    report = release_report_markdown(release)
    assert f"- Head at report time: #{head.seq} `{head.hash}`" in report
    assert f"audit_verify --expect-head {head.hash}" in report


def test_it_keeps_user_text_from_breaking_the_markdown(release, release_engineer):
    evil = (
        "line one\n# Injected heading\n<script>alert(1)</script> [click](javascript:alert(1))"
        " | cell | *bold* `code` ![img](http://x/y.png)\n- [x] forged item"
    )
    release.title = "Fix\n## Injected title"
    release.save()
    done = items_by_position(release)[0]
    ChecklistItem.objects.filter(pk=done.pk).update(comment=evil)
    EvidenceFactory(item=done, summary=evil, url="javascript:alert(1)", created_by_name=evil)
    with transaction.atomic():
        audit_record(actor=release_engineer, action="item.comment", obj=done)
    report = release_report_markdown(release)
    html = render(report)
    assert "<script>" not in html
    assert "<code>javascript:alert(1)</code>" in html  # shown, not followed
    assert 'href="javascript' not in html
    assert "<h2>Injected" not in html and "<h1>Injected" not in html
    assert "<em>bold</em>" not in html and "<img" not in html
    assert html.count("<h1>") == 1
    assert len(re.findall(r"^- \[[ x]\] ", report, flags=re.M)) == 5  # no forged item
    assert "Comment: line one / \\# Injected heading" not in report  # "#" mid-line stays
    assert "Comment: line one / # Injected heading / \\<script\\>alert(1)\\</script\\>" in report
    # Every table row still has its five columns.
    for line in report.splitlines():
        if line.startswith("| ") and "Sign-off" not in line:
            assert len(re.findall(r"(?<!\\)\|", line)) in {5, 6}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("a`b", "``a`b``"), ("`x`", "`` `x` ``"), ("two\nlines", "`two / lines`")],
)
def test_code_spans_hold_any_text(text, expected):
    assert md_code(text) == expected


def test_links_are_only_http_and_cannot_escape_their_parentheses():
    assert md_link("run", "https://ci.example/run/1?a=(b) c") == (
        "[run](https://ci.example/run/1?a=%28b%29%20c)"
    )
    assert md_link("run", "javascript:alert(1)") == "run: `javascript:alert(1)`"
    assert md_text("a_b*c [d](e) <f> |g| ~h~ &i") == (
        "a\\_b\\*c \\[d\\](e) \\<f\\> \\|g\\| \\~h\\~ \\&i"
    )


def test_an_empty_release_still_reads_well(project, release_engineer):
    from tests.checklists.reports.factories import ReleaseFactory

    release = ReleaseFactory(project=project, owner=release_engineer, digest="")
    report = release_report_markdown(release)
    assert "The release has no checklist items yet." in report
    assert "No migration files pinned yet." in report
    assert "No sign-offs yet." in report
    assert "- **Release digest:** not computed yet" in report
    assert "- Head at report time: #0 `" + "0" * 64 + "`" in report


def test_evidence_kinds_all_render(release):
    item = items_by_position(release)[1]
    for kind in Evidence.Kind:
        EvidenceFactory(item=item, kind=kind, summary=f"about {kind}")
    report = release_report_markdown(release)
    for kind in Evidence.Kind:
        assert f"  - Evidence: {kind.label}: " in report
