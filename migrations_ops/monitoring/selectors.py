"""What the monitoring panel shows: each query's values over the window, as a table row
and a small server-rendered SVG sparkline."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import F
from django.utils import timezone

from migrations_ops.monitoring.models import HealthQuery, HealthSample, MonitoringWindow

SPARK_WIDTH = 120
SPARK_HEIGHT = 28
SPARK_POINTS = 60
RECENT_VALUES = 5


@dataclass
class Sparkline:
    points: str  # "x,y x,y ..." for <polyline points>
    threshold_y: float | None
    last_x: float
    last_y: float
    width: int = SPARK_WIDTH
    height: int = SPARK_HEIGHT


@dataclass
class QueryRow:
    query: HealthQuery
    latest: HealthSample | None = None
    recent: list[HealthSample] = field(default_factory=list)
    crossed: int = 0
    spark: Sparkline | None = None

    @property
    def state(self) -> str:
        if self.latest is None:
            return "pending"
        if self.latest.error:
            return "error"
        return "ok" if self.latest.ok else "bad"


def latest_window(release: Any) -> MonitoringWindow | None:
    """The release's running window, else its most recent one."""
    return (
        MonitoringWindow.objects.filter(release=release)
        .select_related("target")
        .order_by(F("ended_at").desc(nulls_first=True), "-started_at", "-pk")
        .first()
    )


def sparkline(values: list[float], threshold: float) -> Sparkline | None:
    values = values[-SPARK_POINTS:]
    if not values:
        return None
    top = max([*values, threshold, 0.0])
    bottom = min([*values, 0.0])
    span = (top - bottom) or 1.0
    pad = 2.0

    def y(v: float) -> float:
        return round(SPARK_HEIGHT - pad - (v - bottom) / span * (SPARK_HEIGHT - 2 * pad), 1)

    step = (SPARK_WIDTH - 2 * pad) / max(len(values) - 1, 1)
    xs = [round(pad + i * step, 1) for i in range(len(values))]
    ys = [y(v) for v in values]
    points = " ".join(f"{x},{yy}" for x, yy in zip(xs, ys, strict=True))
    return Sparkline(points=points, threshold_y=y(threshold), last_x=xs[-1], last_y=ys[-1])


def window_rows(window: MonitoringWindow) -> list[QueryRow]:
    """One row per query sampled in the window (or enabled now), in the project's order."""
    samples = list(
        HealthSample.objects.filter(window=window).order_by("at", "pk").select_related(None)
    )
    by_query: dict[int, list[HealthSample]] = defaultdict(list)
    for sample in samples:
        by_query[sample.query_id].append(sample)
    queries = HealthQuery.objects.filter(project_id=window.target.project_id).order_by("pk")
    rows = []
    for query in queries:
        series = by_query.get(query.pk, [])
        if not series and not (query.enabled and window.running):
            continue
        values = [s.value for s in series if s.value is not None]
        rows.append(
            QueryRow(
                query=query,
                latest=series[-1] if series else None,
                recent=series[-RECENT_VALUES:][::-1],
                crossed=sum(1 for s in series if not s.ok and not s.error),
                spark=sparkline(values, query.threshold),
            )
        )
    return rows


def minutes_left(window: MonitoringWindow) -> int:
    if not window.running:
        return 0
    return max(0, int((window.ends_at - timezone.now()).total_seconds() // 60) + 1)
