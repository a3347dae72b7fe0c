"""The release's analysis, built from stored results only (nothing runs here).

``release_analysis`` is what the card, the report, the evidence pack and the API show:
the newest succeeded ``risk`` and ``access`` jobs of the release (said so when they were
made for older migrations than the release's current ones), the schema change, the
statements hazards first, the data-loss ledger joined with the verified backup and the
rollback plan, and the access diff with Supabase's lints.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Case, When

from migrations_ops.analysis import recovery
from migrations_ops.jobs.results.migrations import schema_changes
from migrations_ops.models import BackupManifest, Job, RollbackPlan, Target
from migrations_ops.pg import risk_report

KINDS = (Job.Kind.RISK, Job.Kind.ACCESS)

# When no RLS test run tells which cells were exercised.
EXERCISED_NOTE = (
    "Which cells the RLS tests exercised is measured by the RLS job (PostgreSQL's table "
    "statistics around the tests: per table and operation, not per role; a scan counts "
    "as SELECT, so an UPDATE or DELETE with a WHERE marks SELECT too)."
)
NOT_MEASURED = (
    "No RLS test run for these migrations yet: which cells the tests exercise is unknown."
)


def newest_results(release: Any) -> dict[str, Job | None]:
    """The newest succeeded job of each analysis kind (one query)."""
    found: dict[str, Job | None] = dict.fromkeys(KINDS)
    jobs = (
        Job.objects.filter(release_id=release.pk, kind__in=KINDS, state=Job.State.SUCCEEDED)
        .select_related("target")
        .order_by("-finished_at", "-pk")
    )
    for job in jobs:
        if found.get(job.kind) is None:
            found[job.kind] = job
        if all(found.values()):
            break
    return found


def verified_backup(release: Any) -> BackupManifest | None:
    """The release's newest verified backup, production's first."""
    return (
        BackupManifest.objects.verified()
        .filter(release_id=release.pk)
        .select_related("target")
        .defer("manifest")
        # Production's first (the backup a rollback would restore), then the newest.
        .order_by(
            Case(When(target__kind=Target.Kind.PRODUCTION, then=0), default=1),
            "-finished_at",
            "-pk",
        )
        .first()
    )


def rollback_plan(release: Any, backup: BackupManifest | None) -> RollbackPlan | None:
    """The release's newest rollback plan, for the backup's target when there is one."""
    plans = RollbackPlan.objects.filter(release_id=release.pk)
    if backup is not None:
        same = plans.filter(target_id=backup.target_id).order_by("-created_at", "-pk").first()
        if same is not None:
            return same
    return plans.order_by("-created_at", "-pk").first()


def _job_facts(job: Job, release: Any) -> dict[str, Any]:
    return {
        "id": job.pk,
        "summary": job.summary,
        "finished_at": job.finished_at,
        "target": job.target.name if job.target else None,
        "current": release is not None and job.content_digest == release.content_digest,
        "content_digest": job.content_digest,
    }


def risk_section(release: Any, job: Job | None) -> dict[str, Any] | None:
    if job is None:
        return None
    data = job.result or {}
    backup = verified_backup(release) if release is not None else None
    plan = rollback_plan(release, backup) if release is not None else None
    return {
        "job": _job_facts(job, release),
        "level": data.get("level"),
        "reasons": data.get("reasons", []),
        "hazards": data.get("hazards", 0),
        "statements": risk_report.hazards_first(data),
        "data_loss": recovery.ledger_with_recovery(
            risk_report.loss_ledger(data), backup=backup, plan=plan
        ),
        "backup": None
        if backup is None
        else {"id": backup.pk, "file": backup.file_name, "target": backup.target.name},
        "rollback_plan": None if plan is None else {"id": plan.pk},
        # In words, as the dry run's page says it; results from before catalog_changes
        # was stored keep their summary lines.
        "schema_changes": schema_changes(data.get("catalog_changes") or {}),
        "schema_change": data.get("catalog_summary", []),
        "notes": data.get("notes", []),
    }


def access_section(release: Any, job: Job | None) -> dict[str, Any] | None:
    if job is None:
        return None
    data = job.result or {}
    lints = data.get("lints") or {}
    return {
        "job": _job_facts(job, release),
        "changes": data.get("changes", []),
        "change_lines": data.get("change_lines", []),
        "principals": data.get("principals", []),
        "relations": data.get("relations", []),
        "lints_new": lints.get("new", []),
        "lints_fixed": lints.get("resolved", []),
        "method": data.get("method", ""),
        "notes": data.get("notes", []),
        **_exercised(release, job, data),
    }


def _rls_run(release: Any, job: Job) -> Job | None:
    """The newest RLS test run of the same content as ``job`` that measured its tables."""
    if release is None:
        return None
    return (
        Job.objects.filter(
            release_id=release.pk,
            kind=Job.Kind.RLS,
            state__in=[Job.State.SUCCEEDED, Job.State.FAILED],
            content_digest=job.content_digest,
            result__has_key="exercised",
        )
        .order_by("-finished_at", "-pk")
        .first()
    )


def _exercised(release: Any, job: Job, data: dict[str, Any]) -> dict[str, Any]:
    """Which matrix cells (relation, operation) the RLS tests touched, and each changed
    cell's ``tested``; None where no RLS run measured it."""
    rls = _rls_run(release, job)
    if rls is None:
        for change in data.get("changes", []):
            change["tested"] = None
        return {"exercised_by_tests": None, "exercised_note": NOT_MEASURED, "rls_job": None}
    tables: dict[str, list[str]] = (rls.result.get("exercised") or {}).get("tables") or {}
    cells = [
        {"relation": relation, "operation": op, "tested": op in tables.get(relation, [])}
        for relation in data.get("relations", [])
        for op in ("SELECT", "INSERT", "UPDATE", "DELETE")
    ]
    for change in data.get("changes", []):
        change["tested"] = change["operation"] in tables.get(change["relation"], [])
    return {
        "exercised_by_tests": cells,
        "exercised_note": EXERCISED_NOTE + f" From RLS job #{rls.pk}.",
        "rls_job": rls.pk,
    }


def release_analysis(release: Any) -> dict[str, Any]:
    """What the release does to the database, from the stored results."""
    jobs = newest_results(release)
    return {
        "release": release.pk,
        "content_digest": release.content_digest,
        "risk": risk_section(release, jobs[Job.Kind.RISK]),
        "access": access_section(release, jobs[Job.Kind.ACCESS]),
    }


# The per-kind result views of a job's page: template and context of one job's result.
RESULT_TEMPLATES = {
    Job.Kind.RISK: "migrations_ops/analysis/risk_result.html",
    Job.Kind.ACCESS: "migrations_ops/analysis/access_result.html",
}


def job_result_context(job: Job) -> dict[str, Any]:
    """What ``RESULT_TEMPLATES[job.kind]`` needs to show ``job``'s own result."""
    release = job.release
    if job.kind == Job.Kind.RISK:
        return {"release": release, "risk": risk_section(release, job)}
    return {"release": release, "matrix": access_section(release, job)}
