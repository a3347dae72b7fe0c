"""Starting, sampling, ending and closing monitoring windows; a project's health queries.

Services are keyword-only, one transaction each, audited in it. Locks are taken release
row first, then the window, the order every release writer uses. Sampling talks to the
target outside any transaction and writes its samples in a short one afterwards.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from checklists.models import Release
from checklists.services.state import release_transition
from migrations_ops.models import Project, Target, TargetDisabled
from migrations_ops.monitoring import sampling
from migrations_ops.monitoring.defaults import DEFAULT_QUERIES
from migrations_ops.monitoring.models import (
    HealthQuery,
    HealthSample,
    MonitoringWindow,
    ProjectMonitoring,
)
from release_portal.accounts.access import require_actor
from release_portal.accounts.roles import Action
from release_portal.audit.services import Actor, actor_of, audit_record
from release_portal.webhooks import events

logger = logging.getLogger(__name__)

S = Release.State
W = MonitoringWindow.State
SYSTEM = Actor.system("monitoring")


_require = require_actor  # people need the action; tokens and jobs were checked before


def _locked_release(release_id: int) -> Release:
    return (
        Release.objects.select_for_update(of=("self",)).select_related("project").get(pk=release_id)
    )


def project_monitoring(project: Project) -> ProjectMonitoring:
    """The project's monitoring settings; the default health queries on first use."""
    settings_row, created = ProjectMonitoring.objects.get_or_create(project=project)
    if created:
        for query in DEFAULT_QUERIES:
            HealthQuery.objects.get_or_create(
                project=project, name=query["name"],
                defaults={k: v for k, v in query.items() if k != "name"},
            )  # fmt: skip
    return settings_row


def incident_url(release: Any) -> str | None:
    """The incident page offered on alerts (``incident_new``), when it exists."""
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse("incident_new", args=[release.pk])
    except NoReverseMatch:
        pass
    try:
        return reverse("incident_new") + f"?release={release.pk}"
    except NoReverseMatch:
        return None


# --- start ------------------------------------------------------------------------------------


@transaction.atomic
def monitoring_start(*, release: Any, target: Target, user: Any) -> MonitoringWindow:
    """Open the post-deploy window of ``release`` on production ``target``.

    Called when a production deployment succeeded: the release moves from deploying to
    monitoring (or already is there). A running window of the release is returned as it
    is, so a second call changes nothing. The window lasts the project's
    ``window_minutes`` (``MONITORING_WINDOW_MINUTES``, 30, by default).
    """
    _require(user, Action.DEPLOY, release.project_id, "Your roles do not allow deployments.")
    release = _locked_release(release.pk)
    if target.project_id != release.project_id:
        raise ValidationError(f"The target {target.name} belongs to another project.")
    if target.kind != Target.Kind.PRODUCTION:
        raise ValidationError(
            f"{target.name} is not a production target: the runbook's monitoring window "
            "follows production deployments only."
        )
    running = MonitoringWindow.objects.filter(release=release, ended_at__isnull=True).first()
    if running is not None:
        return running
    if release.state == S.DEPLOYING:
        release_transition(
            release=release, to=S.MONITORING, actor=user, reason="post-deploy monitoring started"
        )
    elif release.state != S.MONITORING:
        raise ValidationError(
            f"The release is {release.get_state_display().lower()}: monitoring starts after "
            "a production deployment succeeded."
        )
    minutes = project_monitoring(release.project).window_minutes
    now = timezone.now()
    window = MonitoringWindow.objects.create(
        release=release, target=target, started_at=now, ends_at=now + timedelta(minutes=minutes),
        started_by_name=actor_of(user).name[:200],
    )  # fmt: skip
    audit_record(
        actor=user,
        action="monitoring.start",
        obj=window,
        release=release,
        data={"target": target.name, "minutes": minutes, "ends_at": window.ends_at},
    )
    return window


# --- close early ------------------------------------------------------------------------------


@transaction.atomic
def monitoring_close(*, window: MonitoringWindow, user: Any, reason: str) -> MonitoringWindow:
    """An SRE or platform lead ends the window now, saying why; the release is deployed."""
    _require(
        user, Action.MANAGE_INCIDENTS, window.release.project_id,
        "Only SREs and platform leads close a monitoring window.",
    )  # fmt: skip
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("Say why the monitoring window is closed before its end.")
    release = _locked_release(window.release_id)
    window = MonitoringWindow.objects.select_for_update().get(pk=window.pk)
    if window.state in (W.CLEAN, W.CLOSED_EARLY):
        raise ValidationError(f"This window already ended ({window.get_state_display().lower()}).")
    before = window.state
    now = timezone.now()
    window.state = W.CLOSED_EARLY
    window.ended_at = window.ended_at or now
    window.closed_by = user if actor_of(user).kind == "user" else None
    window.closed_by_name = actor_of(user).name[:200]
    window.reason = reason[:2000]
    window.save(update_fields=["state", "ended_at", "closed_by", "closed_by_name", "reason"])
    audit_record(
        actor=user,
        action="monitoring.close",
        obj=window,
        release=release,
        data={"from": before, "reason": reason, "ends_at": window.ends_at},
    )
    if release.state == S.MONITORING:
        release_transition(
            release=release, to=S.DEPLOYED, actor=user,
            reason=f"monitoring window closed early by {window.closed_by_name}: {reason}",
        )  # fmt: skip
    return window


# --- the beat tick ----------------------------------------------------------------------------


@dataclass
class TickReport:
    sampled: list[int] = field(default_factory=list)
    ended: list[int] = field(default_factory=list)
    alerts: list[tuple[int, str]] = field(default_factory=list)


def monitoring_tick(*, now: datetime | None = None) -> TickReport:
    """What beat runs every minute: end the windows that are due, sample the others."""
    now = now or timezone.now()
    report = TickReport()
    running = MonitoringWindow.objects.filter(ended_at__isnull=True).select_related("release")
    for window in running.order_by("pk"):
        try:
            if window.ends_at <= now or window.release.state != S.MONITORING:
                if window_end(window_id=window.pk, now=now):
                    report.ended.append(window.pk)
                continue
            report.alerts += window_sample(window_id=window.pk, now=now)
            report.sampled.append(window.pk)
        except Exception:
            # One broken window must not stop the others from being watched.
            logger.exception("monitoring window %s: tick failed", window.pk)
    return report


@transaction.atomic
def window_end(*, window_id: int, now: datetime | None = None) -> bool:
    """End a window whose time is up (or whose release left monitoring); True if it ended.

    Clean: the release becomes deployed. Alerted: it stays monitoring for a person. A
    window in which an enabled health query was never read, or whose last reading was an
    error (production unreachable, a broken query), did not watch anything: it ends
    alerted, not clean.
    """
    now = now or timezone.now()
    release_id = MonitoringWindow.objects.values_list("release_id", flat=True).get(pk=window_id)
    release = _locked_release(release_id)
    window = MonitoringWindow.objects.select_for_update().select_related("target").get(pk=window_id)
    if window.ended_at is not None:
        return False
    before = window.state
    left = release.state != S.MONITORING
    window.ended_at = now
    if left and window.state == W.OPEN:
        window.state = W.CLOSED_EARLY
        window.reason = f"the release left monitoring ({release.get_state_display().lower()})"
    elif window.state == W.OPEN:
        unread = _unread_queries(window)
        if unread:
            window.state = W.ALERTED
            window.reason = "never read, or failing at the end: " + ", ".join(unread)
        else:
            window.state = W.CLEAN
    window.save(update_fields=["ended_at", "state", "reason"])
    audit_record(
        actor=SYSTEM,
        action="monitoring.end",
        obj=window,
        release=release,
        data={"from": before, "to": window.state, "release_state": release.state},
    )
    if before == W.OPEN and window.state == W.ALERTED:
        events.monitoring_alert(
            release=release,
            actor=SYSTEM,
            data={
                "summary": f"post-deploy monitoring of {release} on {window.target.name} "
                f"ended without readings: {window.reason}",
                "window": window.pk,
                "target": window.target.name,
                "incident_url": incident_url(release),
            },
        )
    if window.state == W.CLEAN and release.state == S.MONITORING:
        release_transition(
            release=release, to=S.DEPLOYED, actor=SYSTEM,
            reason=f"post-deploy monitoring ended clean after {_minutes(window)} minutes",
        )  # fmt: skip
    return True


def _unread_queries(window: MonitoringWindow) -> list[str]:
    """Enabled queries with no value in the window, or whose last reading failed."""
    last: dict[int, HealthSample] = {}
    for sample in HealthSample.objects.filter(window=window).order_by("at", "pk"):
        last[sample.query_id] = sample
    valued = set(
        HealthSample.objects.filter(window=window, value__isnull=False).values_list(
            "query_id", flat=True
        )
    )
    queries = HealthQuery.objects.filter(project_id=window.target.project_id, enabled=True)
    return [
        q.name
        for q in queries.order_by("pk")
        if q.pk not in valued or (q.pk in last and last[q.pk].error)
    ]


def _minutes(window: MonitoringWindow) -> int:
    return round((window.ends_at - window.started_at).total_seconds() / 60)


def _claim(window_id: int, now: datetime) -> bool:
    # Half a period: a late beat still samples, two overlapping beats do not both.
    since = now - timedelta(seconds=settings.MONITORING_SAMPLE_EVERY_SECONDS / 2)
    return bool(
        MonitoringWindow.objects.filter(pk=window_id, ended_at__isnull=True)
        .filter(Q(last_sampled_at__isnull=True) | Q(last_sampled_at__lt=since))
        .update(last_sampled_at=now)
    )


def window_sample(*, window_id: int, now: datetime | None = None) -> list[tuple[int, str]]:
    """Read every enabled health query of the window's project from its target and
    record the samples; the (window, query name) pairs that crossed a threshold for the
    first time in this window (those are alerted)."""
    now = now or timezone.now()
    if not _claim(window_id, now):
        return []
    window = MonitoringWindow.objects.select_related("target", "release").get(pk=window_id)
    queries = list(HealthQuery.objects.filter(project_id=window.target.project_id, enabled=True))
    try:
        url = window.target.database_url()
    except TargetDisabled as e:
        readings = [sampling.Reading(q.pk, error=str(e)[:500]) for q in queries]
    else:
        readings = sampling.read_all(
            url,
            [(q.pk, q.sql) for q in queries],
            target=window.target.name,
            timeout_ms=settings.MONITORING_STATEMENT_TIMEOUT_MS,
            variable=window.target.url_env_var,
        )
    return record_samples(window_id=window_id, queries=queries, readings=readings, at=now)


@transaction.atomic
def record_samples(
    *,
    window_id: int,
    queries: list[HealthQuery],
    readings: list[sampling.Reading],
    at: datetime,
) -> list[tuple[int, str]]:
    release_id = MonitoringWindow.objects.values_list("release_id", flat=True).get(pk=window_id)
    release = _locked_release(release_id)
    window = MonitoringWindow.objects.select_for_update().select_related("target").get(pk=window_id)
    if window.ended_at is not None:
        return []  # closed while we were reading
    by_id = {q.pk: q for q in queries}
    previous = _last_raw(window)
    crossed_before = set(
        HealthSample.objects.filter(window=window, ok=False, error="").values_list(
            "query_id", flat=True
        )
    )
    alerts = []
    for reading in readings:
        query = by_id[reading.query_id]
        value = reading.raw
        if query.delta and reading.raw is not None:
            last = previous.get(query.pk)
            # First reading is the baseline; a counter that went down was reset.
            value = (
                0.0
                if last is None
                else (reading.raw - last if reading.raw >= last else reading.raw)
            )
        crossed = value is not None and query.crosses(value)
        HealthSample.objects.create(
            window=window, query=query, at=at, value=value, raw=reading.raw,
            ok=value is not None and not crossed, error=reading.error,
        )  # fmt: skip
        if crossed and query.pk not in crossed_before:
            assert value is not None
            _alert(window, release, query, value)
            alerts.append((window.pk, query.name))
    return alerts


def _last_raw(window: MonitoringWindow) -> dict[int, float]:
    rows = (
        HealthSample.objects.filter(window=window, raw__isnull=False)
        .order_by("query_id", "-at", "-pk")
        .distinct("query_id")
        .values_list("query_id", "raw")
    )
    return {qid: raw for qid, raw in rows if raw is not None}


def _alert(window: MonitoringWindow, release: Release, query: HealthQuery, value: float) -> None:
    before = window.state
    if window.state == W.OPEN:
        window.state = W.ALERTED
        window.save(update_fields=["state"])
    summary = (
        f"{query.name} on {window.target.name} is {value:g} ({query.rule}) during "
        f"post-deploy monitoring of {release}"
    )
    data = {
        "summary": summary,
        "window": window.pk,
        "target": window.target.name,
        "query": query.name,
        "value": value,
        "threshold": query.threshold,
        "comparison": query.get_comparison_display(),
        "incident_url": incident_url(release),
    }
    audit_record(
        actor=SYSTEM, action="monitoring.alert", obj=window, release=release,
        data={**data, "from": before},
    )  # fmt: skip
    events.monitoring_alert(release=release, data=data, actor=SYSTEM)
