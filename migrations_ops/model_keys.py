"""The foreign keys most rows of migrations_ops share: their project, release and target.

Its own module, importing no model, so each feature's models (backups, rollback,
incidents, monitoring) use them without importing ``migrations_ops.models``, which
imports those features' models at its end for Django to find.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models

if TYPE_CHECKING:
    from checklists.models import Release
    from migrations_ops.models import Project, Target


def project_key(related_name: str) -> models.ForeignKey[Project, Project]:
    """The project a row belongs to: deleting the project deletes the row."""
    return models.ForeignKey(
        "migrations_ops.Project", on_delete=models.CASCADE, related_name=related_name
    )


def release_key(related_name: str) -> models.ForeignKey[Release, Release]:
    """The release a row is history or evidence of: it keeps the release from deletion."""
    return models.ForeignKey(
        "checklists.Release", on_delete=models.PROTECT, related_name=related_name
    )


def target_key(related_name: str) -> models.ForeignKey[Target, Target]:
    """The target a row was made on: it keeps the target from deletion."""
    return models.ForeignKey(
        "migrations_ops.Target", on_delete=models.PROTECT, related_name=related_name
    )
