"""Thin Celery task: beat's minute tick over every running monitoring window."""

from __future__ import annotations

from celery import shared_task

from migrations_ops.monitoring import services


@shared_task(
    name="migrations_ops.monitoring.tasks.monitoring_tick",
    ignore_result=True,
    soft_time_limit=50,
    time_limit=80,
)
def monitoring_tick() -> None:
    services.monitoring_tick()
