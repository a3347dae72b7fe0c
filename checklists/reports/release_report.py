"""The release report: the checklist as Markdown, ready for release notes or a ticket.

The runbook's §6 asks teams to "update the checklist state in the release notes or issue
tracker"; this is that update, written by the portal instead of copied by hand. Text
people typed (titles, comments, summaries, names, file names) is flattened to one line
and its Markdown punctuation escaped, so it reads as typed and never adds a heading, a
link, a table column or HTML to the document. Step texts come from the published runbook
and keep their inline Markdown (code spans).
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from django.db import transaction
from django.utils import timezone
from django.utils.text import get_valid_filename

from checklists import proof
from checklists.models import ChecklistItem, Evidence, Release, Waiver
from migrations_ops.analysis.selectors import release_analysis
from migrations_ops.pg.sizes import size_text
from release_portal.accounts.roles import Action, can
from release_portal.audit.links import (
    absolute,
    backup_page,
    job_page,
    release_page,
    rollback_plan_page,
)
from release_portal.audit.selectors import ChainHead, audit_head
from release_portal.audit.services import audit_record

# Punctuation that can start inline structure (emphasis, code, links, HTML, tables,
# strike-through, entities) anywhere in a line. CommonMark lets any of it be escaped.
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]<>|~&])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


# --- Markdown pieces ------------------------------------------------------------------


def one_line(text: Any) -> str:
    """Line breaks become " / ": a comment's second line must not start a new block."""
    lines = [line.strip() for line in _CONTROL.sub(" ", str(text or "")).splitlines()]
    return " / ".join(line for line in lines if line)


def md_text(text: Any) -> str:
    """User text as literal Markdown: one line, structure-making punctuation escaped."""
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", one_line(text))


def md_code(text: Any) -> str:
    """A code span that holds any text, backticks included."""
    body = one_line(text)
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if body.startswith("`") or body.endswith("`") else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def md_link(label: str, url: str) -> str:
    """``[label](url)`` for http(s) URLs; anything else is shown as code, not followed."""
    if urlsplit(url).scheme not in {"http", "https"}:
        return f"{md_text(label)}: {md_code(url)}"
    # Characters that would end the link destination or the line are percent-encoded.
    safe = quote(one_line(url), safe="/:?#@!$&'*+,;=%-._~[]")
    return f"[{md_text(label)}]({safe})"


def md_time(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "unknown time"


def _who(user: Any) -> str:
    return md_text(user.get_username()) if user is not None else "someone no longer here"


# --- the report -------------------------------------------------------------------------


def evidence_file_path(evidence: Evidence) -> str:
    """Where the evidence pack keeps an evidence file (report links are relative to it)."""
    name = evidence.file_name or (evidence.file.name or "").rsplit("/", 1)[-1]
    return f"evidence/{evidence.pk}-{get_valid_filename(name) or 'file'}"


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _evidence_label(evidence: Evidence, base_url: str | None) -> list[str]:
    """The objects an evidence line names, each linked to its own page: the backup by its
    backup id (not its restore check's job id), the rollback plan, the job, the CI run."""
    data = evidence.data or {}
    out = []
    backup_id = _int(data.get("backup_id"))
    if evidence.kind in (Evidence.Kind.BACKUP, Evidence.Kind.SNAPSHOT_REF) and backup_id:
        out.append(md_link(f"backup #{backup_id}", absolute(backup_page(backup_id), base_url)))
    plan_id = _int(data.get("plan_id"))
    if evidence.kind == Evidence.Kind.ROLLBACK_PLAN and plan_id:
        out.append(
            md_link(f"rollback plan #{plan_id}", absolute(rollback_plan_page(plan_id), base_url))
        )
    if evidence.job_id:
        kind = evidence.job.get_kind_display() if evidence.job else "job"
        out.append(md_link(f"job #{evidence.job_id} ({kind})", _job_url(evidence, base_url)))
    return out


def _evidence_line(evidence: Evidence, release: Release, base_url: str | None) -> str:
    parts = [f"{evidence.get_kind_display()}: **{evidence.get_status_display().lower()}**"]
    parts += _evidence_label(evidence, base_url)
    if evidence.summary:
        parts.append(md_text(evidence.summary))
    if evidence.url:
        parts.append(md_link("CI run" if evidence.kind == "ci_run" else "link", evidence.url))
    if evidence.file_name or evidence.file:
        name = evidence.file_name or (evidence.file.name or "").rsplit("/", 1)[-1]
        sha = f" sha256 {md_code(evidence.file_sha256[:12])}" if evidence.file_sha256 else ""
        # Relative: the evidence pack holds the file under this path, beside report.md.
        parts.append(f"file [{md_text(name)}]({quote(evidence_file_path(evidence))}){sha}")
    if evidence.commit_sha and evidence.commit_sha != release.commit_sha:
        parts.append(f"for commit {md_code(evidence.commit_sha[:12])}")
    # Evidence is produced for the release's content (its files), not for its release
    # digest (which also covers the checklist, so it moves with every tick).
    if evidence.digest and release.content_digest and evidence.digest != release.content_digest:
        parts.append("*for older migrations*")
    by = md_text(evidence.created_by_name) if evidence.created_by_name else "the portal"
    parts.append(f"{by}, {md_time(evidence.created_at)}")
    return "  - Evidence: " + " — ".join(parts)


def _waiver_line(waiver: Waiver) -> str:
    approved = (
        f"approved by {_who(waiver.approved_by)} at {md_time(waiver.approved_at)}"
        if waiver.approved_at
        else "**waiting for a second person**"
    )
    state = waiver.state
    flag = "" if state in ("approved", "pending") else f" (**{state}**)"
    return (
        f"  - Waiver #{waiver.pk}{flag} ({waiver.get_kind_display().lower()}): "
        f"{md_text(waiver.reason)} — asked by {_who(waiver.asked_by)} at "
        f"{md_time(waiver.asked_at)}, {approved}"
    )


def _job_url(evidence: Evidence, base_url: str | None) -> str:
    return absolute(job_page(evidence.job_id or 0), base_url)


def _item_line(item: ChecklistItem) -> str:
    text = " ".join(item.step.text.split())
    who = f"{_who(item.done_by)}, {md_time(item.done_at)}"
    state = ChecklistItem.State
    if item.state == state.DONE:
        return f"- [x] {text} — done by {who}"
    if item.state == state.NOT_APPLICABLE:
        reason = md_text(item.comment) if item.comment else "no reason given"
        return f"- [x] {text} — **n/a**: {reason} ({who})"
    if item.state == state.STALE:
        return (
            f"- [ ] {text} — **stale**: was done by {who}; needs doing again for the current digest"
        )
    if item.state == state.FAILED:
        return f"- [ ] {text} — **failed** ({who})"
    return f"- [ ] {text} — open ({item.step.get_owner_display()})"


def _checklist(release: Release, base_url: str | None) -> list[str]:
    items = list(
        ChecklistItem.objects.filter(release=release)
        .select_related("step", "done_by")
        .order_by("step__position")
    )
    evidence_by_item: dict[int, list[Evidence]] = defaultdict(list)
    evidence = (
        Evidence.objects.filter(item__release=release)
        .select_related("job")
        .defer("job__result", "job__params", "job__error", "data")
        .order_by("item_id", "created_at", "pk")
    )
    for row in evidence:
        evidence_by_item[row.item_id].append(row)
    waivers_by_item: dict[int, list[Waiver]] = defaultdict(list)
    for waiver in (
        Waiver.objects.filter(release=release)
        .select_related("asked_by", "approved_by")
        .order_by("asked_at", "pk")
    ):
        waiver.release = release
        waivers_by_item[waiver.item_id].append(waiver)
    settled = sum(1 for item in items if item.is_settled)
    out = ["## Checklist", "", f"{settled} of {len(items)} items settled.", ""]
    section = None
    for item in items:
        if item.step.section != section:
            if section is not None:
                out.append("")
            section = item.step.section
            out += [f"### {md_text(section) or 'Checklist'}", ""]
        out.append(_item_line(item))
        out += [_evidence_line(e, release, base_url) for e in evidence_by_item[item.pk]]
        item.release = release
        check = proof.check_item(item, release, evidence_by_item[item.pk])
        if check is not None:
            # The check from the evidence listed above (prefetched: no query).
            out.append(f"  - Check for these migrations: **{check.status}** — "
                       f"{md_text(check.explanation)}")  # fmt: skip
        out += [_waiver_line(w) for w in waivers_by_item[item.pk]]
        if item.comment and item.state != ChecklistItem.State.NOT_APPLICABLE:
            out.append(f"  - Comment: {md_text(item.comment)}")
    if not items:
        out.append("The release has no checklist items yet.")
    return [*out, ""]


def _migration_files(release: Release) -> list[str]:
    files = release.migration_files.defer("sql", "down_sql").order_by("version", "filename")
    out = ["## Migration files", ""]
    rows = [
        f"| {md_code(f.filename)} | {md_code(f.sha256[:12])} | {size_text(f.size)} | "
        f"{md_code(f.down_filename) if f.down_filename else 'none'} |"
        for f in files
    ]
    if not rows:
        return [*out, "No migration files pinned yet.", ""]
    return [*out, "| File | sha256 | Size | Down script |", "|---|---|---|---|", *rows, ""]


def _signoffs(release: Release) -> list[str]:
    signoffs = release.signoffs.select_related("user").order_by("signed_at")
    out = ["## Sign-offs", ""]
    rows = []
    for s in signoffs:
        current = s.is_current
        status = "current" if current else "**stale**"
        if not current and s.stale_reason:
            status += f": {md_text(s.stale_reason)}"
        rows.append(
            f"| {s.get_kind_display()} | {_who(s.user)} | {md_time(s.signed_at)} | "
            f"{md_code(s.digest[:12])} | {status} |"
        )
    if not rows:
        return [*out, "No sign-offs yet.", ""]
    return [*out, "| Sign-off | Who | When | Digest | Status |", "|---|---|---|---|---|", *rows, ""]


def _analysis(analysis: dict[str, Any]) -> list[str]:
    """What the release does to the database, from the stored risk and access results."""
    out = ["## What this release does", ""]
    risk, access = analysis["risk"], analysis["access"]
    if risk is None:
        out += ["No risk result yet (the pre-flight's “Release risk” job).", ""]
    else:
        older = "" if risk["job"]["current"] else " *(for older migrations)*"
        level = md_text(risk["level"])
        out += [f"**Release risk: {level}** (job #{risk['job']['id']}){older}", ""]
        out += [f"- {md_text(reason)}" for reason in risk["reasons"]]
        out += [f"- schema: {md_code(line)}" for line in risk["schema_change"]]
        out += ["", "| Risk | File:line | Does | Lock | Rows | Hazards |"]
        out += ["|---|---|---|---|--:|---|"]
        for s in risk["statements"]:
            rows = ", ".join(f"{t['rows']:,}" for t in s.get("table_sizes", []) if t.get("rows"))
            hazards = "; ".join(md_text(h["name"]) for h in s.get("hazards", [])) or "-"
            where = md_code(f"{s['file']}:{s['line']}")
            lock = md_text(s.get("lock") or "-")
            out.append(
                f"| {md_text(s.get('risk'))} | {where} | {md_text(s.get('does'))} | {lock} "
                f"| {rows or '-'} | {hazards} |"
            )
        out.append("")
        for loss in risk["data_loss"]:
            count = f"{loss['count']:,}" if loss.get("count") is not None else "not counted"
            what = md_text(f"{loss['what']} of {loss['table']}")
            if loss.get("column"):
                what += md_text(f".{loss['column']}")
            line = (
                f"- Data loss {md_code(f'{loss["file"]}:{loss["line"]}')}: {count} {what}; "
                f"backup: {md_text(loss['backup']['why'])}; "
                f"rollback: {md_text(loss['rollback']['why'])}"
            )
            if loss["rollback"].get("loses"):
                line += f" (loses {md_text(loss['rollback']['loses'])})"
            out.append(line)
        out.append("")
    if access is None:
        out += ["No access matrix yet (the pre-flight's “RLS access matrix” job).", ""]
    else:
        changes = access["changes"]
        out += [f"**Access changes: {len(changes)}** (job #{access['job']['id']})", ""]
        tested = {True: " (exercised by the RLS tests)", False: " (not exercised by the RLS tests)"}
        out += [
            f"- {md_text(change['line'])}{tested.get(change.get('tested'), '')}"
            for change in changes
        ] or ["- none"]
        for label, lints in (("new", access["lints_new"]), ("fixed", access["lints_fixed"])):
            out += [f"- {label} lint: {md_text(x['name'])} {md_text(x['object'])}" for x in lints]
        out += ["", md_text(access["exercised_note"]), ""]
    return out


def release_report_markdown(
    release: Release, *, base_url: str | None = None, head: ChainHead | None = None
) -> str:
    """The release as a Markdown document: facts, checklist by runbook section with evidence
    and comments, migration files, sign-offs, digest, and the change-log head right now.

    ``base_url`` (e.g. ``https://releases.example.com/``) makes page links absolute.
    """
    head = head or audit_head()
    version = release.runbook_version
    project = release.project
    now = timezone.now()
    digest = md_code(release.digest) if release.digest else "not computed yet"
    facts = [
        f"- **Release:** {md_link(f'#{release.pk}', absolute(release_page(release.pk), base_url))}"
        if base_url
        else f"- **Release:** #{release.pk}",
        f"- **Project:** {md_text(project.name)} ({md_code(project.slug)})",
        f"- **Commit:** {md_code(release.commit_sha)}",
        f"- **Owner:** {_who(release.owner)}",
        f"- **State:** {release.get_state_display()}",
        f"- **Runbook:** {md_text(version.title)} v{version.number} "
        f"(sha256 {md_code(version.source_sha256[:12])})",
        f"- **Release digest:** {digest}",
        f"- **Content digest:** "
        f"{md_code(release.content_digest) if release.content_digest else 'not computed yet'}",
        f"- **Report written:** {md_time(now)}",
    ]
    if release.planned_for:
        facts.insert(5, f"- **Planned for:** {release.planned_for.isoformat()}")
    lines = [f"# Release report: {md_text(release.title)}", "", *facts, ""]
    lines += _checklist(release, base_url)
    lines += _migration_files(release)
    lines += _signoffs(release)
    lines += _analysis(release_analysis(release))
    lines += [
        "## Change log",
        "",
        f"- Head at report time: #{head.seq} {md_code(head.hash)}",
        "- Anyone can check later that no event up to here was changed or removed: "
        f"`manage.py audit_verify --expect-head {head.hash}`, or paste the hash into "
        '"Verify chain" on the change-log page.',
        "",
    ]
    return "\n".join(lines)


def evidence_pack_allowed(user: Any, release: Release) -> bool:
    """The evidence pack carries job output and uploaded files wholesale: it is for those
    who may export the change log (platform lead, auditor) and the release's owner."""
    return can(user, Action.EXPORT_AUDIT, release.project_id) or release.owner_id == user.pk


@transaction.atomic
def release_download_record(*, release: Release, actor: Any, action: str, **data: Any) -> None:
    """Record that someone took a copy of the release away (``release.report``,
    ``release.evidence_pack``), before it is built, so the copy's head includes it."""
    audit_record(actor=actor, action=action, obj=release, data=data)
