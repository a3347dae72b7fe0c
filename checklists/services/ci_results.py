"""What CI reports about a release: check results, secret names, the pull request.

Each report becomes Evidence on the matching checklist item (it never ticks: the item's
owner does, with the evidence in view), in one transaction with its audit event, and
refreshes the release's digests, so sign-offs given before it go stale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from checklists import rules
from checklists.models import ChecklistItem, Evidence, PeerReview, Release
from checklists.services.errors import ChecklistError
from checklists.services.items import evidence_add
from checklists.services.releases import normalise_sha
from checklists.services.state import Refresh, release_refresh
from release_portal.audit.services import actor_of, audit_record


class StepNotFound(ChecklistError):
    def __init__(self, text: str, valid: list[str]) -> None:
        super().__init__(text)
        self.valid = valid


class CommitMismatch(ChecklistError):
    pass


@dataclass
class Report:
    evidence: list[Evidence]
    items: list[ChecklistItem]
    refresh: Refresh
    missing: list[str] = field(default_factory=list)


def _locked_open(release: Release) -> Release:
    release = (
        Release.objects.select_for_update(of=("self",))
        .select_related("project", "owner")
        .get(pk=release.pk)
    )
    if release.state not in rules.OPEN_FOR_CHANGES:
        raise ChecklistError(
            f"The release is {release.get_state_display().lower()}: its checklist is closed "
            "to new evidence."
        )
    return release


def _items(release: Release, step: str, accepts: str) -> list[ChecklistItem]:
    """The items ``step`` names: a step key, or an evidence kind such as "ci:staging_apply"
    (every step that takes it). Only steps that take ``accepts`` ("ci:" = any CI report)."""

    def takes(item: ChecklistItem) -> bool:
        kinds = item.step.evidence_kinds
        return any(k == accepts or (accepts.endswith(":") and k.startswith(accepts)) for k in kinds)

    items = list(release.items.select_related("step", "release").order_by("step__position"))
    valid = [i for i in items if takes(i)]
    if step.startswith("ci:"):
        found = [i for i in valid if step in i.step.evidence_kinds]
    else:
        found = [i for i in valid if i.step.key == step]
    if not found:
        known = any(i.step.key == step for i in items)
        what = "a step that does not take this report" if known else "no step"
        keys = [i.step.key for i in valid]
        raise StepNotFound(
            f"{step[:80]!r} is {what} in this release's runbook (v{release.runbook_version.number})"
            f": report to one of {', '.join(keys) or '(none: the runbook names no such step)'}, "
            "or name the evidence kind (e.g. ci:staging_apply).",
            keys,
        )
    for item in found:
        item.release = release
    return found


def _files_changed_under(release: Release, sha: str) -> bool:
    """Other files than the current ones were uploaded for commit ``sha``: a CI result for
    that commit may have tested either (it ran while they were replaced), so only the
    content digest it names can tell."""
    return release.uploads.filter(commit_sha=sha).exclude(bundle=release.bundle).exists()


def _tested_content(
    release: Release, commit_sha: str, content_digest: str, what: str, redo: str
) -> str:
    """The release's commit, when ``commit_sha`` (what CI reported ``what`` for) is it and,
    where CI names it, ``content_digest`` is the release's content now; else CommitMismatch
    saying what to send. Without a content digest, refused once other files were uploaded
    under the same commit: the report could not say which of them it saw.

    Every CI report that can become proof goes through here, so none is recorded as proof
    of another commit's (or other files') content than the one it was made for."""
    sha = normalise_sha(commit_sha)
    if content_digest and content_digest != release.content_digest:
        raise CommitMismatch(
            f"This {what} is for content {content_digest[:12]}, but the release's files are "
            f"now {release.content_digest[:12]}: {redo} for the current files."
        )
    if sha != release.commit_sha:
        raise CommitMismatch(
            f"This {what} is for commit {sha[:12]}, but the release is at "
            f"{release.commit_sha[:12]}: report it for the release's commit, or move the "
            "release first (upload its migrations with the new commit_sha)."
        )
    if not content_digest and _files_changed_under(release, sha):
        raise CommitMismatch(
            f"The release's files were uploaded again under commit {sha[:12]} with other "
            f"content, so this {what} does not say which files it saw: report it again "
            "with the content_digest it was made for (GET the release: it is now "
            f"{release.content_digest[:12]})."
        )
    return sha


@transaction.atomic
def ci_run_report(
    *, release: Release, step: str, status: str, run_url: str, commit_sha: str, summary: str,
    actor: Any, content_digest: str = "",
) -> Report:  # fmt: skip
    """A CI job's result (staging apply, RLS Docker suite...) for the release's commit and,
    when CI names it, the content digest it tested (refused when the files moved on).
    Without a content digest it is refused once other files were uploaded under the same
    commit: it could be proof of files the run never tested."""
    release = _locked_open(release)
    sha = _tested_content(release, commit_sha, content_digest, "result", "run the check again")
    items = _items(release, step, "ci:")
    passed = status == Evidence.Status.PASSED
    evidence = [
        evidence_add(
            item=item,
            actor=actor,
            kind=Evidence.Kind.CI_RUN,
            status=Evidence.Status.PASSED if passed else Evidence.Status.FAILED,
            summary=summary or f"CI run {'passed' if passed else 'failed'} on {sha[:12]}",
            url=run_url,
            commit_sha=sha,
        )
        for item in items
    ]
    refresh = release_refresh(
        release=release, actor=actor, reason=f"CI reported {status} for “{items[0].step.text[:60]}”"
    )
    for item in items:
        item.refresh_from_db(fields=["state"])
    return Report(evidence, items, refresh)


@transaction.atomic
def ci_secrets_report(
    *, release: Release, step: str, names: list[str], actor: Any, run_url: str = ""
) -> Report:
    """Which secret NAMES are set in CI. Values are never accepted, stored or echoed."""
    release = _locked_open(release)
    items = _items(release, step, "ci:secrets")
    reported = sorted(dict.fromkeys(n.strip() for n in names if n.strip()))
    required = list(release.project.required_secret_names)
    missing = [n for n in required if n not in reported]
    status = Evidence.Status.FAILED if missing else Evidence.Status.PASSED
    summary = f"{len(required) - len(missing)} of {len(required)} required secrets are set"
    if missing:
        summary += f"; missing: {', '.join(missing)}"
    evidence = [
        evidence_add(
            item=item,
            actor=actor,
            kind=Evidence.Kind.SECRETS,
            status=status,
            summary=summary,
            url=run_url,
            data={"names": reported, "required": required, "missing": missing},
        )
        for item in items
    ]
    refresh = release_refresh(
        release=release,
        actor=actor,
        reason=f"CI reported secret names for “{items[0].step.text[:60]}”",
    )
    for item in items:
        item.refresh_from_db(fields=["state"])
    return Report(evidence, items, refresh, missing)


@dataclass
class PullRequestReport:
    review: PeerReview
    attached_to: list[str]


@transaction.atomic
def pull_request_report(
    *, release: Release, url: str, approvals: int, template_checklist_complete: bool,
    commit_sha: str, actor: Any, content_digest: str = "",
) -> PullRequestReport:  # fmt: skip
    """The release's pull request (runbook §2 "Peer review"): approvals, template checklist,
    for ``commit_sha`` (the commit CI found the PR by), which must be the release's, and,
    when CI names it, the content digest (the same rules as a CI result: a review of one
    commit is never proof for another's files).

    Recorded on the release; and evidence (passed when approved with its template
    checklist complete) on every item whose step takes ``ci:pull_request``.
    """
    release = _locked_open(release)
    sha = _tested_content(
        release, commit_sha, content_digest, "pull request report", "report it again"
    )
    review = PeerReview.objects.create(
        release=release, url=url, approvals=approvals,
        template_checklist_complete=template_checklist_complete,
        reported_by_name=actor_of(actor).name, commit_sha=sha,
        content_digest=release.content_digest,
    )  # fmt: skip
    data = {
        "url": url,
        "approvals": approvals,
        "template_checklist_complete": template_checklist_complete,
        "commit_sha": sha,
    }
    audit_record(actor=actor, action="release.pull_request", obj=review, release=release, data=data)
    attached = []
    for item in release.items.select_related("step").filter(
        step__evidence_kinds__contains=["ci:pull_request"]
    ):
        item.release = release
        evidence_add(
            item=item, actor=actor, kind=Evidence.Kind.PULL_REQUEST,
            status=Evidence.Status.PASSED if review.is_complete else Evidence.Status.FAILED,
            summary=f"PR with {approvals} approval(s), template checklist "
            f"{'complete' if template_checklist_complete else 'incomplete'}",
            url=url, commit_sha=sha, data=data,
        )  # fmt: skip
        attached.append(item.step.key)
    if attached:
        release_refresh(release=release, actor=actor, reason="pull request reported")
    return PullRequestReport(review, attached)
