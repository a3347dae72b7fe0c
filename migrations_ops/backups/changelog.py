"""``backups/CHANGELOG.md`` (runbook §5.1 step 3), regenerated from the portal's records.

The text comes from the database (each backup row keeps its manifest, with the
verification and the snapshot reference written back into it) through
``backup_changelog.render_changelog``. It is rewritten into the storage after every backup
and restore check (``<project>/CHANGELOG.md`` beside the project's backups) and served
fresh from the backups page.
"""

from __future__ import annotations

import dataclasses
import logging

from django.db import transaction

from migrations_ops.backups.storage import StorageError, current_storage
from migrations_ops.models import BackupManifest, Project
from migrations_ops.pg.backup_changelog import ChangelogEntry, render_changelog
from migrations_ops.pg.backup_manifest import ManifestError, ManifestFile

logger = logging.getLogger(__name__)

FILE_NAME = "CHANGELOG.md"


def changelog_key(project: Project) -> str:
    return f"{project.slug}/{FILE_NAME}"


# In place of a failed restore check's findings, for readers who may not read them.
FINDINGS_WITHHELD = "what it found is shown to SREs and platform leads only"


def changelog_text(project: Project, *, findings: bool = True) -> str:
    """The change log of ``project``'s backups that still exist, newest first. Without
    ``findings``, a failed restore check's words (it ran over production's rows: they can
    quote them, ``jobs.output``) are replaced by ``FINDINGS_WITHHELD``."""
    rows = (
        BackupManifest.objects.filter(project=project, deleted_at__isnull=True)
        .select_related("release")
        .order_by("-finished_at", "-pk")
    )
    entries = []
    for row in rows:
        try:
            manifest = ManifestFile.from_dict(row.manifest)
        except ManifestError:
            logger.warning("backup %s: its stored manifest is unreadable; left out", row.pk)
            continue
        if not findings and manifest.verification is not None:
            manifest.verification = dataclasses.replace(
                manifest.verification, summary=FINDINGS_WITHHELD
            )
        release = f"#{row.release_id} {row.release.title}" if row.release else None
        entries.append(ChangelogEntry(manifest=manifest, release=release))
    return render_changelog(entries)


def changelog_write(project_id: int) -> None:
    """Rewrite the project's CHANGELOG.md in the backup storage (errors are logged)."""
    project = Project.objects.get(pk=project_id)
    try:
        current_storage().write_text(changelog_key(project), changelog_text(project))
    except StorageError:
        logger.exception("could not write the backups change log of %s", project.slug)


def changelog_after_commit(project_id: int) -> None:
    # A file write, never inside the transaction: a failure must not undo the record.
    transaction.on_commit(lambda: changelog_write(project_id), robust=True)
