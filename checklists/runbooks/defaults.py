"""Who owns a step and what counts as its evidence, guessed from its section and wording.

These are defaults for a draft: a platform lead reviews and edits them before
publishing. The rules read the runbook's own words (see §1 "Scope & Roles"):

- owner (read from the words outside inline code, so `pnpm run test:rls` is not "RLS"):
  the release owner's sign-off → ``release_owner``; "runbook review" → platform lead;
  RLS, fixtures, data integrity, smoke and security checks → QA lead; the rest of the
  pre-flight section → release engineer; backup / rollback / restore / snapshot → SRE;
  anything else (CI results) → release engineer.
- evidence kinds: specific phrases map to the jobs the portal runs and the CI reports it
  receives (see ``EVIDENCE_RULES``).
- requires_evidence: True when the step is a gate the runbook relies on and its evidence
  always exists in a working setup: the portal's own order, dry-run, pending, fixtures and
  RLS jobs, the CI reports §4 says block production (staging apply, RLS docker suite), a
  backup and a rollback plan. False where the evidence may not exist for every project
  or would block every release of a version: check commands (they need a full checkout,
  which upload-only projects lack), secrets (the runbook means GitHub's, which only CI
  sees), the runbook lint (its errors can only be fixed in a later version, and a release
  never changes version), links and files (judgement calls), and sign-offs (the sign-off
  is the evidence). A platform lead changes any of this per step before publishing.
"""

from __future__ import annotations

import re
from typing import Any

from checklists.models import StepOwner
from migrations_ops.jobs.kinds import job_evidence_kinds

# (phrases, evidence kinds) in order; a step collects the kinds of every rule it matches.
EVIDENCE_RULES: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
    ((r"\border\b", r"chronological"), ("job:order",)),
    ((r"pnpm run lint", r"pnpm run typecheck", r"pnpm run test:unit"), ("job:commands",)),
    ((r"dry-run", r"dry run"), ("job:dry_run",)),
    ((r"rls fixtures",), ("job:fixtures",)),
    ((r"pending or failed migrations",), ("job:pending",)),
    ((r"\bsecrets?\b",), ("job:secrets", "ci:secrets")),
    ((r"staging migrations applied",), ("ci:staging_apply",)),
    ((r"rls docker test suite",), ("ci:rls_docker", "job:rls")),
    ((r"backup captured",), ("backup", "snapshot_ref")),
    ((r"rollback commands prepared", r"rollback plan"), ("rollback_plan",)),
    ((r"smoke tests", r"security checks"), ("link", "file")),
    ((r"runbook review",), ("runbook_lint",)),
]
# Evidence that makes a step a gate (see requires_evidence above).
GATING_KINDS = frozenset(
    {
        "job:order",
        "job:dry_run",
        "job:pending",
        "job:fixtures",
        "job:rls",
        "ci:staging_apply",
        "ci:rls_docker",
        "backup",
        "rollback_plan",
    }
)
EVIDENCE_KIND_PATTERN = re.compile(
    r"^(job:[a-z_]+|ci:[a-z_]+|link|file|runbook_lint|backup|snapshot_ref|rollback_plan)$"
)
# Every job kind's evidence comes from the job registry.
KNOWN_EVIDENCE_KINDS = [
    *job_evidence_kinds(),
    "ci:staging_apply",
    "ci:rls_docker",
    "ci:secrets",
    "ci:pull_request",
    "link",
    "file",
    "runbook_lint",
    "backup",
    "snapshot_ref",
    "rollback_plan",
]

# A sign-off step names who signs first: "Release owner sign-off: @<name>".
_SIGNOFF = re.compile(r"^(release owner|qa lead|qa|sre|final)?\s*sign[- ]?off\b")
_CODE_SPAN = re.compile(r"`[^`]*`")


def _plain(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("`", "").replace("*", "")).strip().casefold()


def _wording(text: str) -> str:
    """The step's own words, without its inline code (`pnpm run test:rls` is not RLS work)."""
    return _plain(_CODE_SPAN.sub(" ", text))


def _owner(section: str, text: str, is_signoff: bool) -> str:
    words = _wording(text)
    where = _plain(section)
    if is_signoff:
        if words.startswith("qa"):
            return StepOwner.QA_LEAD
        if words.startswith("sre"):
            return StepOwner.SRE
        return StepOwner.RELEASE_OWNER
    if "runbook review" in words:
        return StepOwner.PLATFORM_LEAD
    if re.search(r"\b(rls|fixtures|data integrity|smoke tests|security checks)\b", words):
        return StepOwner.QA_LEAD
    if re.search(r"\bpre-?flight\b", where):
        return StepOwner.RELEASE_ENGINEER
    if re.search(r"\b(backups?|rollback|restore|snapshot)\b", words):
        return StepOwner.SRE
    if re.search(r"\b(backup|rollback)", where):
        return StepOwner.SRE
    if re.search(r"\b(rls|data integrity|qa)\b", where):
        return StepOwner.QA_LEAD
    return StepOwner.RELEASE_ENGINEER


def evidence_for(text: str) -> list[str]:
    words = _plain(text)
    kinds: list[str] = []
    for phrases, found in EVIDENCE_RULES:
        if any(re.search(p, words) for p in phrases):
            kinds.extend(k for k in found if k not in kinds)
    return kinds


def requires_evidence_for(kinds: list[str], is_signoff: bool) -> bool:
    if is_signoff:
        return False
    return any(k in GATING_KINDS for k in kinds)


def step_defaults(section: str, text: str) -> dict[str, Any]:
    """owner, evidence_kinds, requires_evidence and is_signoff for a new step."""
    is_signoff = bool(_SIGNOFF.search(_wording(text)))
    kinds = [] if is_signoff else evidence_for(text)
    return {
        "owner": str(_owner(section, text, is_signoff)),
        "evidence_kinds": kinds,
        "requires_evidence": requires_evidence_for(kinds, is_signoff),
        "is_signoff": is_signoff,
    }
