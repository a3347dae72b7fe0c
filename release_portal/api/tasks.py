"""Periodic upkeep for the API (Celery beat)."""

from celery import shared_task

from release_portal.api import expiry
from release_portal.api.idempotency import purge_expired


@shared_task(name="release_portal.api.tasks.idempotency_purge", ignore_result=True)
def idempotency_purge() -> int:
    """Drop stored Idempotency-Key answers older than their 24 hours."""
    return purge_expired()


@shared_task(name="release_portal.api.tasks.token_expiry_notices", ignore_result=True)
def token_expiry_notices() -> int:
    """Tell each project's platform leads, once per token, that a token enters its last
    7 days."""
    return expiry.token_expiry_notices()


@shared_task(name="release_portal.api.tasks.token_expiry_mails", ignore_result=True)
def token_expiry_mails() -> int:
    """Try again the expiry mails the mail server refused, when they are due."""
    return expiry.expiry_mails_send()
