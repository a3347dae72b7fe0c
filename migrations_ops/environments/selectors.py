"""Each target of some projects, as the portal last recorded it: the migrations applied
there, the release deployed, its backups, rollbacks and monitoring windows; and the
recent releases x targets matrix (what Octopus shows as releases by environment).

Built only from stored rows (finished jobs' results, deployments, backup manifests,
rollback plans, monitoring windows) with their times, never from a live connection: a
page must not wait on, or reach, a production database. Each part is one query for all
the targets asked about (``DISTINCT ON`` the target), so the cost does not grow with the
number of releases, jobs or backups.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Q

from checklists.models import Deployment, FreezeWindow, Release
from migrations_ops.models import BackupManifest, Job, Project, RollbackPlan, Target
from migrations_ops.monitoring.models import MonitoringWindow

BACKUPS_SHOWN = 3
MATRIX_RELEASES = 8
# Jobs whose result says what a target's migration history was when they finished.
HISTORY_KINDS = (Job.Kind.PENDING, Job.Kind.APPLY, Job.Kind.BACKUP, Job.Kind.ROLLBACK)


@dataclass
class AppliedState:
    """A target's migration history as a finished job read it."""

    newest: str | None
    count: int
    pending: list[str]
    job_id: int
    job_kind: str
    read_at: datetime | None


@dataclass
class Environment:
    target: Target
    applied: AppliedState | None = None
    deployed: Deployment | None = None  # the newest successful deployment
    deploying: Deployment | None = None  # one under way
    last_rollback: Deployment | None = None
    rollback_plan: RollbackPlan | None = None
    backups: list[BackupManifest] = field(default_factory=list)
    window: MonitoringWindow | None = None

    @property
    def rolled_back(self) -> Deployment | None:
        """The rollback that undid the deployed release here since it was deployed, if any:
        the target then no longer runs what ``deployed`` names."""
        deployed, rollback = self.deployed, self.last_rollback
        if (
            deployed is None
            or rollback is None
            or rollback.release_id != deployed.release_id
            or rollback.status != Deployment.Status.SUCCEEDED
        ):
            return None
        undone = rollback.finished_at or rollback.started_at
        return rollback if undone >= (deployed.finished_at or deployed.started_at) else None


def _names(items: Iterable[Any]) -> list[str]:
    out = []
    for item in items:
        out.append(
            str(item.get("filename") or item.get("version"))
            if isinstance(item, dict)
            else str(item)
        )
    return out


def applied_state(job: Job) -> AppliedState | None:
    """What ``job``'s result says of its target's history; None when it says nothing."""
    r = job.result or {}
    if job.kind == Job.Kind.PENDING and "applied" in r:
        newest, count, pending = (
            r.get("newest_applied"),
            len(r["applied"]),
            _names(r.get("pending") or []),
        )
    elif job.kind == Job.Kind.APPLY and ("applied_before" in r or "applied" in r):
        before, now = r.get("applied_before") or [], r.get("applied") or []
        newest = r.get("newest_applied_after") or r.get("newest_applied_before")
        count, pending = len(before) + len(now), _names(r.get("not_attempted") or [])
    elif job.kind == Job.Kind.BACKUP and "applied_versions" in r:
        versions = r.get("applied_versions") or []
        newest, count = (versions[-1] if versions else None), len(versions)
        pending = _names(r.get("pending_versions") or [])
    elif job.kind == Job.Kind.ROLLBACK and "history_after" in r:
        newest, count, pending = (
            r.get("newest_applied_after"),
            len(r.get("history_after") or []),
            [],
        )
    else:
        return None
    return AppliedState(
        newest=str(newest) if newest else None, count=count, pending=pending,
        job_id=job.pk, job_kind=job.get_kind_display(), read_at=job.finished_at,
    )  # fmt: skip


def _newest_per_target(queryset: Any, order: str) -> dict[int, Any]:
    rows = queryset.order_by("target_id", order).distinct("target_id")
    return {row.target_id: row for row in rows}


def environments(projects: Iterable[Project]) -> dict[int, list[Environment]]:
    """Each project's targets (by project id), staging first, with what is known of them."""
    targets = list(Target.objects.filter(project__in=list(projects)).in_flow_order())
    ids = [t.pk for t in targets]
    envs = {t.pk: Environment(target=t) for t in targets}
    if not ids:
        return {}
    history_jobs = Job.objects.filter(
        target_id__in=ids, kind__in=HISTORY_KINDS, finished_at__isnull=False
    ).filter(
        Q(result__has_key="applied")
        | Q(result__has_key="applied_before")
        | Q(result__has_key="applied_versions")
        | Q(result__has_key="history_after")
    )
    for target_id, job in _newest_per_target(history_jobs, "-finished_at").items():
        envs[target_id].applied = applied_state(job)
    deployments = Deployment.objects.filter(target_id__in=ids).select_related("release", "override")
    done = deployments.filter(kind=Deployment.Kind.DEPLOY, status=Deployment.Status.SUCCEEDED)
    for target_id, d in _newest_per_target(done, "-finished_at").items():
        envs[target_id].deployed = d
    for d in deployments.filter(status=Deployment.Status.STARTED):
        envs[d.target_id].deploying = d
    rollbacks = deployments.filter(kind=Deployment.Kind.ROLLBACK)
    for target_id, d in _newest_per_target(rollbacks, "-started_at").items():
        envs[target_id].last_rollback = d
    plans = RollbackPlan.objects.filter(target_id__in=ids).select_related("release")
    for target_id, plan in _newest_per_target(plans, "-created_at").items():
        envs[target_id].rollback_plan = plan
    windows = MonitoringWindow.objects.filter(target_id__in=ids).select_related("release")
    for target_id, window in _newest_per_target(windows, "-started_at").items():
        envs[target_id].window = window
    for backup in _recent_backups(ids):
        envs[backup.target_id].backups.append(backup)
    note_freezes(
        (env.target.project_id, d)
        for env in envs.values()
        for d in (env.deployed, env.deploying, env.last_rollback)
    )
    by_project: dict[int, list[Environment]] = defaultdict(list)
    for t in targets:
        by_project[t.project_id].append(envs[t.pk])
    return dict(by_project)


def _recent_backups(target_ids: list[int]) -> list[BackupManifest]:
    """The newest few backups of each target, in one query (a window function)."""
    from django.db.models import F, Window
    from django.db.models.functions import RowNumber

    ranked = (
        BackupManifest.objects.filter(target_id__in=target_ids, deleted_at__isnull=True)
        .annotate(
            rank=Window(
                RowNumber(), partition_by=[F("target_id")], order_by=F("finished_at").desc()
            )
        )
        .defer("manifest", "tables", "verification")
    )
    return [b for b in ranked.filter(rank__lte=BACKUPS_SHOWN).order_by("target_id", "-finished_at")]


@dataclass
class MatrixRow:
    release: Release
    cells: list[Deployment | None]


def release_matrix(project: Project, targets: list[Target]) -> list[MatrixRow]:
    """The project's recent releases x its targets: the newest deployment of each release
    to each target (deploy or rollback), or None."""
    releases = list(
        Release.objects.filter(project=project).order_by("-created_at", "-pk")[:MATRIX_RELEASES]
    )
    newest: dict[tuple[int, int], Deployment] = {}
    rows = (
        Deployment.objects.filter(release__in=releases)
        .select_related("override")
        .order_by("release_id", "target_id", "-started_at")
        .distinct("release_id", "target_id")
    )
    for d in rows:
        newest[(d.release_id, d.target_id)] = d
    note_freezes((project.pk, d) for d in newest.values())
    return [
        MatrixRow(release=r, cells=[newest.get((r.pk, t.pk)) for t in targets]) for r in releases
    ]


def note_freezes(deployments: Iterable[tuple[int, Deployment | None]]) -> None:
    """Give each deployment (with its project's id) ``during_freeze``: the project's freeze
    window that was on when it started, or None. A deployment goes through a freeze only
    by a break-glass (``Deployment.override``): the pages say so beside it, as an SRE or
    an auditor reading the history expects. One query for them all."""
    shown = [(project_id, d) for project_id, d in deployments if d is not None]
    for _, d in shown:
        d.during_freeze = None  # type: ignore[attr-defined]
    if not shown:
        return
    starts = [d.started_at for _, d in shown]
    windows = list(
        FreezeWindow.objects.filter(
            project_id__in={project_id for project_id, _ in shown},
            starts_at__lte=max(starts),
            ends_at__gt=min(starts),
        ).order_by("starts_at")
    )
    for project_id, d in shown:
        d.during_freeze = next(  # type: ignore[attr-defined]
            (
                w
                for w in windows
                if w.project_id == project_id and w.starts_at <= d.started_at < w.ends_at
            ),
            None,
        )


def environments_for_user(user: Any) -> list[tuple[Project, list[Environment]]]:
    """The dashboard's panel: each of the person's projects with its environments."""
    projects = list(Project.objects.filter(memberships__user=user).distinct().order_by("name"))
    envs = environments(projects)
    return [(p, envs.get(p.pk, [])) for p in projects]
