"""Reads for the backups pages and the release panel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from checklists.models import Release
from migrations_ops.models import BackupManifest, Target
from release_portal.accounts.access import get_for_user
from release_portal.accounts.roles import Action, visible_project_ids

R = Release.State
# A release that reached production: its newest verified backup is the way back.
REACHED_PRODUCTION = frozenset({R.DEPLOYING, R.MONITORING, R.DEPLOYED, R.FAILED, R.ROLLED_BACK})


def get_backup_for_user(user: Any, pk: int, action: Action | None = None) -> BackupManifest:
    """Backup ``pk`` if ``user`` holds a role in its project (else 404, never 403); 403 if
    ``action`` is not allowed there."""
    queryset = BackupManifest.objects.select_related(
        "project", "release", "target", "job", "verify_job"
    )
    return get_for_user(user, queryset, what="backup", action=action, pk=pk)


@dataclass
class BackupFilters:
    project: int | None = None
    target: int | None = None
    release: int | None = None
    state: str = ""  # verified | failed | pending | deleted | "" (all kept)
    since: date | None = None
    until: date | None = None


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def backups_for_user(user: Any, filters: BackupFilters) -> QuerySet[BackupManifest]:
    """Backups in the user's projects, newest first (index backup_by_project / _by_target)."""
    rows = BackupManifest.objects.filter(project__in=visible_project_ids(user)).select_related(
        "project", "release", "target"
    )
    if filters.project:
        rows = rows.filter(project=filters.project)
    if filters.target:
        rows = rows.filter(target=filters.target)
    if filters.release:
        rows = rows.filter(release=filters.release)
    if filters.state == "deleted":
        rows = rows.filter(deleted_at__isnull=False)
    else:
        rows = rows.filter(deleted_at__isnull=True)
        if filters.state in ("verified", "passed"):
            rows = rows.verified()
        elif filters.state in ("failed", "pending"):
            rows = rows.filter(verify_state=filters.state)
    if filters.since:
        rows = rows.filter(finished_at__gte=_day_start(filters.since))
    if filters.until:
        rows = rows.filter(finished_at__lt=_day_start(filters.until) + timedelta(days=1))
    return rows.defer("manifest", "tables").order_by("-finished_at", "-pk")


def newest_verified(target: Target, release: Release | None = None) -> BackupManifest | None:
    rows = BackupManifest.objects.verified().filter(target=target)
    if release is not None:
        rows = rows.filter(release=release)
    return rows.order_by("-finished_at", "-pk").first()


def protected_reason(backup: BackupManifest) -> str | None:
    """Why ``backup`` may not be deleted: it is the newest verified one of a deployed release."""
    release = backup.release
    if release is None or release.state not in REACHED_PRODUCTION or not backup.is_verified:
        return None
    newest = newest_verified(backup.target, release)
    if newest is None or newest.pk != backup.pk:
        return None
    return (
        f"{backup.file_name} is the newest verified backup of release #{release.pk} "
        f"({release.get_state_display().lower()}) on {backup.target.name}: it is the way back "
        "if the release must be rolled back, so it cannot be deleted. Capture and verify a "
        "newer backup first."
    )


def protected_ids(backups: list[BackupManifest]) -> set[int]:
    """Which of ``backups`` are protected (one query per release/target pair shown)."""
    pairs = {
        (b.release_id, b.target_id)
        for b in backups
        if b.release_id and b.release and b.release.state in REACHED_PRODUCTION
    }
    protected = set()
    for release_id, target_id in pairs:
        newest = (
            BackupManifest.objects.verified()
            .filter(release=release_id, target=target_id)
            .order_by("-finished_at", "-pk")
            .values_list("pk", flat=True)
            .first()
        )
        if newest:
            protected.add(newest)
    return protected


def release_backups(release: Release) -> list[BackupManifest]:
    """The release's newest kept backup of each target, in the order a release reaches
    them (staging, any other, production), in one query: the release page shows each, so
    a newer backup of staging never hides whether production's passed its restore check."""
    newest = (
        BackupManifest.objects.filter(release=release, deleted_at__isnull=True)
        .select_related("target")
        .defer("manifest")
        .order_by("target_id", "-finished_at", "-pk")
        .distinct("target_id")
    )
    flow: dict[str, int] = {Target.Kind.STAGING: 0, Target.Kind.PRODUCTION: 2}
    return sorted(newest, key=lambda b: (flow.get(b.target.kind, 1), b.target.name))
