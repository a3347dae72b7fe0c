"""Reads for runbook pages, the release service and the API."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet

from checklists.models import RunbookStep, RunbookVersion
from checklists.runbooks.lint import counts
from checklists.runbooks.supabase_cli import CLI_VERSION
from migrations_ops.models import Project
from release_portal.accounts.roles import visible_project_ids


def published_beside(version: RunbookVersion, *, newer: bool = False) -> RunbookVersion | None:
    """The published version just before ``version`` (what it is compared with), or with
    ``newer`` the newest one after it (what a draft must not go back behind); or None."""
    beside = {"number__gt": version.number} if newer else {"number__lt": version.number}
    return (
        RunbookVersion.objects.filter(
            project_id=version.project_id, status=RunbookVersion.Status.PUBLISHED, **beside
        )
        .order_by("-number")
        .first()
    )


def latest_published_version(project: Project | int) -> RunbookVersion | None:
    """The version a new release pins: the highest-numbered published one, or None."""
    project_id = project if isinstance(project, int) else project.pk
    return (
        RunbookVersion.objects.filter(project_id=project_id, status=RunbookVersion.Status.PUBLISHED)
        .order_by("-number")
        .first()
    )


def versions_for_user(user: Any, project: Project | None = None) -> QuerySet[RunbookVersion]:
    """Every version in the projects ``user`` belongs to (or in one of them), newest first."""
    queryset = RunbookVersion.objects.filter(project_id__in=visible_project_ids(user))
    if project is not None:
        queryset = queryset.filter(project=project)
    return (
        queryset.select_related("project", "imported_by", "published_by")
        .annotate(step_count=Count("steps"))
        .defer("source")
        .order_by("project__name", "-number")
    )


def version_steps(version: RunbookVersion) -> QuerySet[RunbookStep]:
    return version.steps.order_by("position")


def runbook_lint_evidence_summary(version: RunbookVersion) -> dict[str, Any]:
    """The version's lint result as evidence for the "Runbook review completed" step.

    Returns the fields of an ``Evidence`` row: kind ``runbook_lint``, status ``passed``
    when there is no error-level finding (else ``failed``), a one-line summary, and data
    holding the findings and the CLI version they were checked against.
    """
    findings = list(version.lint_findings or [])
    tally = counts(findings)
    cli_version = version.lint_cli_version or CLI_VERSION
    if findings:
        parts = [f"{n} {name}{'s' if n != 1 else ''}" for name, n in tally.items() if n]
        summary = f"Runbook v{version.number} lint: {', '.join(parts)} ({cli_version})."
    else:
        summary = f"Runbook v{version.number} lint: no findings ({cli_version})."
    return {
        "kind": "runbook_lint",
        "status": "failed" if tally["error"] else "passed",
        "summary": summary[:500],
        "data": {
            "runbook_version_id": version.pk,
            "runbook_version": version.number,
            "source_sha256": version.source_sha256,
            "cli_version": cli_version,
            "counts": tally,
            "findings": findings,
        },
    }
