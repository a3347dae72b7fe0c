"""Model rows → the plain dicts the API answers (and Idempotency-Key replays) with."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch

from checklists import rules
from checklists.deployments.gate import GateResult
from checklists.models import Deployment, Evidence, GateOverride, PeerReview, Release
from migrations_ops.jobs.output import WITHHELD, may_read_output, verdict
from migrations_ops.jobs.scrub import scrub_paths
from migrations_ops.models import Job


def _name(user: Any) -> str | None:
    return user.get_username() if user is not None else None


def release_summary(release: Release, *, created: bool = False) -> dict[str, Any]:
    return {
        "id": release.pk,
        "project": release.project.slug,
        "title": release.title,
        "state": release.state,
        "commit_sha": release.commit_sha,
        "owner": release.owner.get_username(),
        "planned_for": release.planned_for,
        "digest": release.digest,
        "content_digest": release.content_digest,
        "created_at": release.created_at,
        "created": created,
    }


def evidence(e: Evidence, content_digest: str) -> dict[str, Any]:
    return {
        "id": e.pk,
        "kind": e.kind,
        "status": e.status,
        "url": e.url,
        "summary": e.summary,
        "commit_sha": e.commit_sha,
        "current": e.digest == content_digest,
        "created_by": e.created_by_name or (_name(e.created_by) or ""),
        "created_at": e.created_at,
    }


def deployment(d: Deployment, *, hint: str | None = None) -> dict[str, Any]:
    return {
        "id": d.pk,
        "release": d.release_id,
        "target": d.target.name,
        "target_kind": d.target.kind,
        "kind": d.kind,
        "status": d.status,
        "digest": d.digest,
        "break_glass": d.override_id,
        "run_url": d.run_url,
        "log_url": d.log_url,
        "started_by": d.started_by_name,
        "started_at": d.started_at,
        "finished_by": d.finished_by_name,
        "finished_at": d.finished_at,
        "release_state": d.release.state,
        "hint": hint,
    }


def peer_review(review: PeerReview) -> dict[str, Any]:
    return {
        "url": review.url,
        "approvals": review.approvals,
        "template_checklist_complete": review.template_checklist_complete,
        "complete": review.is_complete,
        "commit_sha": review.commit_sha,
        "current": review.is_current,
        "reported_by": review.reported_by_name,
        "reported_at": review.reported_at,
    }


def job(j: Job) -> dict[str, Any]:
    """The job as a token reads it: a job over production's rows without what it wrote
    (its summary is the portal's verdict, ``output_withheld`` says why; ``jobs.output``)."""
    shown = token_reads_output(j)
    return {
        "id": j.pk,
        "kind": j.kind,
        "state": j.state,
        "target": j.target.name if j.target is not None else None,
        "release": j.release_id,
        "created_at": j.created_at,
        "started_at": j.started_at,
        "finished_at": j.finished_at,
        "ok": j.ok,
        "summary": scrub_paths(j.summary) if shown else verdict(j),
        "error": scrub_paths(j.error) if shown else "",
        "output_withheld": None if shown else WITHHELD,
        "log_count": j.log_count,
        "already_active": bool(getattr(j, "already_active", False)),
        "attempts": j.attempt_rows,
    }


def token_reads_output(j: Job) -> bool:
    """Whether an API token reads ``j``'s output: no token downloads a backup, so none
    reads a job over production's rows (``jobs.output.may_read_output``)."""
    return may_read_output(None, j)


def _followup(o: GateOverride) -> dict[str, Any]:
    return {
        "id": o.pk,
        "by": o.created_by.get_username(),
        "at": o.created_at,
        "reason": o.reason,
        "expires_at": o.expires_at,
        "resolved_at": o.resolved_at,
        "resolved_by": _name(o.resolved_by),
        "resolution_note": o.resolution_note,
    }


def release_detail(release: Release) -> dict[str, Any]:
    """The release with its items, sign-offs, files, jobs and deployments (fixed queries)."""
    items = list(
        release.items.select_related("step", "done_by")
        .prefetch_related(
            Prefetch(
                "evidence",
                queryset=Evidence.objects.select_related("created_by").order_by("-created_at"),
            )
        )
        .order_by("step__position")
    )
    signoffs = list(release.signoffs.select_related("user").order_by("signed_at"))
    jobs = list(
        Job.objects.filter(release=release).select_related("target").order_by("-created_at")[:50]
    )
    deployments = list(
        Deployment.objects.filter(release=release)
        .select_related("target", "release")
        .order_by("-started_at")
    )
    review = release.peer_reviews.order_by("-reported_at").first()
    if review is not None:
        review.release = release
    followups = list(
        release.gate_overrides.select_related("created_by", "resolved_by").order_by("created_at")
    )
    data = release_summary(release)
    data.update(
        {
            "runbook_version": release.runbook_version.number,
            "required_signoffs": rules.signoff_kinds_required(release),
            "items": [
                {
                    "id": i.pk,
                    "step": i.step.key,
                    "section": i.step.section,
                    "text": i.step.text,
                    "owner": i.step.owner,
                    "state": i.state,
                    "done_by": _name(i.done_by),
                    "done_at": i.done_at,
                    "evidence": [evidence(e, release.content_digest) for e in i.evidence.all()],
                }
                for i in items
            ],
            "signoffs": [
                {
                    "kind": s.kind,
                    "user": s.user.get_username(),
                    "digest": s.digest,
                    "signed_at": s.signed_at,
                    "current": s.is_current,
                    "stale_at": s.stale_at,
                    "stale_reason": s.stale_reason,
                }
                for s in signoffs
            ],
            "files": [
                {
                    "filename": f.filename,
                    "version": f.version,
                    "sha256": f.sha256,
                    "size": f.size,
                    "down_filename": f.down_filename,
                }
                for f in release.migration_files.order_by("version", "filename").only(
                    "filename", "version", "sha256", "size", "down_filename"
                )
            ],
            "jobs": [job(j) for j in jobs],
            "deployments": [deployment(d) for d in deployments],
            "peer_review": peer_review(review) if review else None,
            "break_glass": [_followup(o) for o in followups],
        }
    )
    return data


def gate(release: Release, result: GateResult) -> dict[str, Any]:
    data = result.as_dict()
    data["release"] = release.pk
    data["error"] = None if result.open else "The gate is closed: " + "; ".join(result.reasons)
    return data
