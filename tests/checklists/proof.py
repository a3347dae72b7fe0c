"""Helpers for the proof tests (the gate, waivers): checks that finished for a release's
content, and a checklist settled but for one item."""

from __future__ import annotations

from types import SimpleNamespace

from checklists.models import Waiver
from checklists.services import waivers as services
from checklists.services.items import evidence_from_job, item_mark_not_applicable
from migrations_ops.models import Job
from tests.checklists.reports.factories import JobFactory

PENDING = "review-supabase-dashboard-pending-failed"


def waivers() -> SimpleNamespace:
    """The waiver model and services under short names (w.ask, w.approve, w.revoke)."""
    return SimpleNamespace(
        Waiver=Waiver,
        ask=services.waiver_ask,
        approve=services.waiver_approve,
        revoke=services.waiver_revoke,
    )


def finished_job(release, kind: str, state: str, content_digest: str | None = None) -> Job:
    """A job of ``kind`` that finished for the release's content (or ``content_digest``),
    its result attached as evidence by the real hook."""
    job: Job = JobFactory(  # type: ignore[assignment]
        release=release, kind=kind, state=state, ok=state == "succeeded",
        summary=f"{kind} {state}", content_digest=content_digest or release.content_digest,
    )  # fmt: skip
    evidence_from_job(job=job)
    return job


def settle_all_but(release, user, key: str) -> None:
    for each in release.items.select_related("step").filter(step__is_signoff=False):
        if each.step.key == key or each.step.requires_evidence:
            continue
        item_mark_not_applicable(item=each, user=user, reason="not part of this release")
