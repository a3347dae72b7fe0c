"""Runbook versions change here: import, step edits, publish, discard. Each one audited.

A version is a draft until a platform lead publishes it; only drafts change. Publishing
appends a row to the version's change log (the runbook's §7 table), and releases pin
the latest published version from then on (``selectors.latest_published_version``).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from checklists.models import RunbookStep, RunbookVersion, SignOff, StepOwner
from checklists.runbooks.default import default_runbook_source
from checklists.runbooks.defaults import EVIDENCE_KIND_PATTERN
from checklists.runbooks.lint import counts, lint_runbook
from checklists.runbooks.parse import RunbookImportError, parse_runbook_bytes
from checklists.runbooks.selectors import latest_published_version, published_beside
from migrations_ops.models import Project
from release_portal.audit.services import audit_record

__all__ = [
    "RunbookError",
    "RunbookImportError",
    "runbook_discard",
    "runbook_ensure_default",
    "runbook_import",
    "runbook_publish",
    "runbook_step_update",
]

NOTES_MAX = 500


class RunbookError(Exception):
    """A change the version's state does not allow; the message says why."""


def _who(user: Any) -> str:
    if user is None:
        return "system"
    return user.get_full_name() or user.get_username()


def _locked_version(version: RunbookVersion) -> RunbookVersion:
    return RunbookVersion.objects.select_for_update().get(pk=version.pk)


@transaction.atomic
def runbook_import(*, project: Project, source_bytes: bytes, user: Any) -> RunbookVersion:
    """Parse, lint and store the markdown as the project's next draft version.

    Raises RunbookImportError (nothing stored) when the file cannot be a runbook.
    """
    parsed = parse_runbook_bytes(source_bytes)
    # The project's row lock serialises numbering: two uploads at once get v2 and v3.
    locked = Project.objects.select_for_update().get(pk=project.pk)
    lint = lint_runbook(parsed.source, check_commands=locked.check_commands or None)
    findings = lint.as_list()
    number = (
        RunbookVersion.objects.filter(project=locked).aggregate(n=Max("number"))["n"] or 0
    ) + 1
    version = RunbookVersion.objects.create(
        project=locked,
        number=number,
        title=parsed.title,
        source=parsed.source,
        source_sha256=parsed.source_sha256,
        sections=parsed.sections,
        history=parsed.history,
        lint_findings=findings,
        lint_cli_version=lint.cli_version,
        imported_by=user,
    )
    RunbookStep.objects.bulk_create(
        RunbookStep(version=version, **step.as_model_fields()) for step in parsed.steps
    )
    audit_record(
        actor=user,
        action="runbook.import",
        obj=version,
        project=locked,
        data={
            "number": number,
            "title": parsed.title,
            "sha256": parsed.source_sha256,
            "steps": len(parsed.steps),
            "lint": counts(findings),
            "lint_cli_version": lint.cli_version,
        },
    )
    return version


@transaction.atomic
def runbook_step_update(
    *,
    step: RunbookStep,
    owner: str,
    evidence_kinds: list[str],
    requires_evidence: bool,
    user: Any,
) -> RunbookStep:
    """Change who owns a draft step and what counts as its evidence."""
    version = _locked_version(step.version)
    if version.status != RunbookVersion.Status.DRAFT:
        raise RunbookError(
            f"v{version.number} is published: its steps are frozen because releases pin it. "
            "Import a new version to change them."
        )
    step = RunbookStep.objects.select_for_update().get(pk=step.pk, version=version)
    if owner not in StepOwner.values:
        raise RunbookError(f"“{owner}” is not a role that can own a step.")
    if step.is_signoff and owner not in SignOff.Kind.values:
        raise RunbookError("A sign-off step is given by the release owner, the QA lead or the SRE.")
    kinds: list[str] = []
    for kind in evidence_kinds:
        kind = kind.strip()
        if kind and not EVIDENCE_KIND_PATTERN.match(kind):
            raise RunbookError(
                f"“{kind}” is not an evidence kind: use job:<kind>, ci:<name>, link, file, "
                "runbook_lint, backup, snapshot_ref or rollback_plan."
            )
        if kind and kind not in kinds:
            kinds.append(kind)
    if requires_evidence and not kinds:
        raise RunbookError("Choose at least one evidence kind, or do not require evidence.")
    before = {
        "owner": step.owner,
        "evidence_kinds": list(step.evidence_kinds),
        "requires_evidence": step.requires_evidence,
    }
    after = {"owner": owner, "evidence_kinds": kinds, "requires_evidence": requires_evidence}
    if before == after:
        return step
    step.owner = owner
    step.evidence_kinds = kinds
    step.requires_evidence = requires_evidence
    step.save(update_fields=["owner", "evidence_kinds", "requires_evidence"])
    audit_record(
        actor=user,
        action="runbook.step_update",
        obj=step,
        project=version.project_id,
        data={"version": version.number, "key": step.key, "before": before, "after": after},
    )
    return step


@transaction.atomic
def runbook_publish(*, version: RunbookVersion, user: Any, notes: str) -> RunbookVersion:
    """Publish a draft: append a change-log row (UTC date, who, notes); releases pin it next."""
    version = _locked_version(version)
    notes = " ".join(notes.split())
    if version.status != RunbookVersion.Status.DRAFT:
        raise RunbookError(f"v{version.number} is already published.")
    if not notes:
        raise RunbookError("Say what changed in this version: the notes go into its change log.")
    if len(notes) > NOTES_MAX:
        raise RunbookError(f"Keep the notes under {NOTES_MAX} characters.")
    newer = published_beside(version, newer=True)
    if newer is not None:
        raise RunbookError(
            f"v{newer.number} is already published and newer than v{version.number}: "
            "publishing this draft would go back in time. Discard it, or import it again."
        )
    now = timezone.now()
    row = {"date": now.date().isoformat(), "by": _who(user), "notes": notes}
    version.history = [*version.history, row]
    version.status = RunbookVersion.Status.PUBLISHED
    version.published_by = user
    version.published_at = now
    version.publish_notes = notes
    version.save(
        update_fields=["history", "status", "published_by", "published_at", "publish_notes"]
    )
    audit_record(
        actor=user,
        action="runbook.publish",
        obj=version,
        project=version.project_id,
        data={"number": version.number, "notes": notes, "change_log_row": row},
    )
    return version


@transaction.atomic
def runbook_discard(*, version: RunbookVersion, user: Any) -> None:
    """Delete a draft and its steps; published versions are kept forever."""
    version = _locked_version(version)
    if version.status != RunbookVersion.Status.DRAFT:
        raise RunbookError(f"v{version.number} is published and cannot be discarded.")
    data = {"number": version.number, "title": version.title, "sha256": version.source_sha256}
    audit_record(
        actor=user, action="runbook.discard", obj=version, project=version.project_id, data=data
    )
    version.delete()


@transaction.atomic
def runbook_ensure_default(*, project: Project, user: Any = None) -> RunbookVersion:
    """The project's latest published version; the shipped runbook becomes v1 if there is none.

    Safe to call again (the demo loader does on every start): it imports nothing when a
    published version exists.
    """
    Project.objects.select_for_update().get(pk=project.pk)
    current = latest_published_version(project)
    if current is not None:
        return current
    version = runbook_import(project=project, source_bytes=default_runbook_source(), user=user)
    return runbook_publish(
        version=version, user=user, notes="The portal's shipped runbook, imported as a start."
    )
