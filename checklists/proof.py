"""Whether an evidence-required item is proven for the release's content as it is now.

One rule, read by the gate, the tick, the waiver services, the page and the reports: for
each evidence-required item, the **latest automated result for the current content
digest** of each source the step names must have passed. A tick, a link, a file or a
comment never override a failure. "Passed", per evidence kind:

- a job: it succeeded, and it ran for this content digest;
- a backup: its restore check verified it (evidence produced for this content), and it
  is a backup of production (one of staging is information, never proof);
- a rollback plan: its rehearsal passed for this content, and it is production's plan;
- a CI report: it passed, for the release's commit and this content digest;
- a pull request: its latest report, made for the release's commit and this content
  digest, passed (approved, template checklist complete);
- a secrets report, a runbook lint: their latest report passed.

A step that names only manual evidence (links, files) is proven by one attached for
this content. The only way past a failed or missing check is an approved waiver for this
content digest (checklists.models.Waiver).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Prefetch

from checklists.models import ChecklistItem, Evidence, Release

K = Evidence.Kind
# Evidence that reports an automated result (passed or failed) rather than a note.
AUTOMATED = frozenset({K.JOB, K.CI_RUN, K.BACKUP, K.ROLLBACK_PLAN, K.SECRETS, K.PULL_REQUEST,
                       K.RUNBOOK_LINT})  # fmt: skip
# Step evidence kinds that a person attaches (not a result of a check).
MANUAL_STEP_KINDS = frozenset({"link", "file", "snapshot_ref"})

PASSED, FAILED, MISSING = "passed", "failed", "missing"


@dataclass
class Check:
    """An evidence-required item's check: ``status`` is passed, failed or missing;
    ``failures`` name each failed source (kind, job, evidence) and ``results`` every
    latest result the decision used."""

    item: ChecklistItem
    status: str
    results: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    @property
    def explanation(self) -> str:
        if self.status == PASSED:
            return "proven for these migrations"
        if self.status == MISSING:
            return "no passing check for these migrations yet"
        return "failed: " + "; ".join(_failure_text(f) for f in self.failures)

    def as_dict(self) -> dict[str, Any]:
        return {
            "item": self.item.pk,
            "step": self.item.step.key,
            "text": self.item.step.text,
            "state": self.item.state,
            "status": self.status,
            "kinds": list(self.item.step.evidence_kinds),
            "failures": self.failures,
            "explanation": self.explanation,
        }


def _failure_text(failure: dict[str, Any]) -> str:
    where = f" (job #{failure['job']})" if failure.get("job") else ""
    return f"{failure['kind']}{where}: {failure['summary']}"[:300]


def source_of(evidence: Evidence) -> str:
    """Which check a result answers for: results of one source replace each other."""
    if evidence.kind == K.JOB:
        kind = evidence.job.kind if evidence.job_id and evidence.job else "job"
        return f"job:{kind}"
    if evidence.kind == K.CI_RUN:
        return "ci"
    return str(evidence.kind)


# CI reports that name the commit they were made for: they count for that commit only
# (a pull request reported before reports named their commit counts for none).
COMMIT_BOUND = frozenset({K.CI_RUN, K.PULL_REQUEST})


def _counts(evidence: Evidence, release: Release) -> bool:
    """A result for the release's content as it is now (a CI report: and for its commit)."""
    if evidence.digest != release.content_digest:
        return False
    if evidence.kind in COMMIT_BOUND and evidence.commit_sha != release.commit_sha:
        return False
    return evidence.status in (Evidence.Status.PASSED, Evidence.Status.FAILED)


def check_item(
    item: ChecklistItem, release: Release | None = None, evidence: list[Evidence] | None = None
) -> Check | None:
    """The check of ``item`` (None when its step requires no evidence). Reads the item's
    evidence, or ``evidence`` when the caller has it (prefetch ``evidence`` with its job to
    keep it to no queries)."""
    release = release or item.release
    if item.step.is_signoff or not item.step.requires_evidence:
        return None
    evidence = list(item.evidence.all()) if evidence is None else evidence
    automated_kinds = [k for k in item.step.evidence_kinds if k not in MANUAL_STEP_KINDS]
    if not automated_kinds:
        manual = [
            e for e in evidence if e.kind in (K.LINK, K.FILE) and e.digest == release.content_digest
        ]
        return Check(item, PASSED if manual else MISSING)
    latest: dict[str, Evidence] = {}
    for e in sorted(evidence, key=lambda e: (e.created_at, e.pk)):
        if e.kind in AUTOMATED and _counts(e, release):
            latest[source_of(e)] = e
    if not latest:
        return Check(item, MISSING)
    results = [
        {"kind": source, "status": e.status, "job": e.job_id, "evidence": e.pk,
         "summary": e.summary[:200], **_backup_time(e)}
        for source, e in sorted(latest.items())
    ]  # fmt: skip
    failures = [r for r in results if r["status"] != Evidence.Status.PASSED]
    return Check(item, FAILED if failures else PASSED, results, failures)


def _backup_time(evidence: Evidence) -> dict[str, Any]:
    """When a backup result's backup was taken (for the gate's age rule): its restore
    check says so; a result from before it did, when it was verified (a little later)."""
    if evidence.kind != K.BACKUP:
        return {}
    taken = (evidence.data or {}).get("taken_at") or evidence.created_at.isoformat()
    return {"taken_at": taken, "file": (evidence.data or {}).get("file", "")}


def for_production(target: Any, status: str, what: str) -> tuple[str, str]:
    """A result about ``target`` proves its runbook step (§5.1 the backup, §6 the rollback
    plan) only for production: for another target it is information, passing nothing and
    failing nothing, and its words say so. Returns the status and the target in words
    (``what``: "a backup of production", ...)."""
    from migrations_ops.models import Target

    if target.kind == Target.Kind.PRODUCTION:
        return status, target.name
    kind = target.get_kind_display().lower()
    return Evidence.Status.INFO, f"{target.name} (a {kind} target: only {what} proves this step)"


def release_checks(release: Release) -> list[Check]:
    """Every evidence-required item's check, in step order, in two queries."""
    items = (
        release.items.select_related("step")
        .filter(step__requires_evidence=True, step__is_signoff=False)
        .prefetch_related(Prefetch("evidence", queryset=Evidence.objects.select_related("job")))
        .order_by("step__position")
    )
    out = []
    for item in items:
        item.release = release
        check = check_item(item, release)
        if check is not None:
            out.append(check)
    return out
