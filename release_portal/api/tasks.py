"""Periodic upkeep for the API (Celery beat)."""

from celery import shared_task

from release_portal.api.idempotency import purge_expired


@shared_task(name="release_portal.api.tasks.idempotency_purge", ignore_result=True)
def idempotency_purge() -> int:
    """Drop stored Idempotency-Key answers older than their 24 hours."""
    return purge_expired()
