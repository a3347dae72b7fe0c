"""The whole-chain check started from the audit page: queued, run by a worker, watched.

Checking a million events takes seconds, not a web request's time: "Verify chain" queues
an AuditVerification row and a Celery task (ids only, sent after commit). The worker
claims the row with one conditional UPDATE (so a duplicate message never runs it twice),
reports how many events it checked through its own connection (the check itself reads
in one snapshot), and stores the result. One check runs at a time: a second click joins
the one in progress. Beat's sweep re-sends a check whose message was lost and ends one
whose worker stopped reporting, saying so.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, connections, transaction
from django.db.models.functions import Now
from django.utils import timezone

from release_portal.audit.models import AuditChainHead, AuditVerification
from release_portal.audit.services import actor_of, audit_record
from release_portal.audit.verify import audit_verify

logger = logging.getLogger(__name__)

SEND_AGAIN_AFTER = timedelta(seconds=60)  # a queued check nobody took: its message was lost
SILENT_AFTER = timedelta(seconds=120)  # a running check with no progress: its worker died


def _send(run_id: int) -> None:
    from release_portal.audit.tasks import audit_verification_run

    audit_verification_run.apply_async(args=(run_id,))
    AuditVerification.objects.filter(pk=run_id).update(sent_at=Now())


def send_after_commit(run_id: int) -> None:
    # robust: a broker that is down leaves the row queued for the sweep.
    transaction.on_commit(lambda: _send(run_id), robust=True)


@transaction.atomic
def verification_start(
    *, user: Any, project_ids: list[int], expect_head: str = ""
) -> tuple[AuditVerification, bool]:
    """Queue a check of the whole chain for ``user`` (who may export ``project_ids``).

    Returns the check and whether it was started now; when one is queued or running it is
    returned instead (it reads the same events). The start is recorded in each project's
    log, like an export.
    """
    active = AuditVerification.objects.filter(state__in=AuditVerification.ACTIVE_STATES).first()
    if active is not None:
        return active, False
    who = actor_of(user)
    try:
        with transaction.atomic():
            run = AuditVerification.objects.create(
                requested_by_id=who.id, requested_by_name=who.name[:200], expect_head=expect_head
            )
    except IntegrityError:  # two clicks at once: the other transaction queued it first
        raced = AuditVerification.objects.filter(state__in=AuditVerification.ACTIVE_STATES).first()
        if raced is None:
            raise
        return raced, False
    for project_id in project_ids:
        audit_record(
            actor=user,
            action="audit.verify",
            project=project_id,
            data={"check": run.pk, "expect_head": expect_head or None},
        )
    send_after_commit(run.pk)
    return run, True


class _ProgressWriter:
    """Writes progress through a connection of its own: the check's snapshot is in the
    default one, and nobody would see progress until it ends."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self.connection = connections.create_connection("default")

    def __call__(self, checked: int, total: int) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(
                "UPDATE audit_auditverification SET checked = %s, total = %s, "
                "heartbeat_at = now() WHERE id = %s AND state = 'running'",
                [checked, total, self.run_id],
            )

    def close(self) -> None:
        self.connection.close()


def verification_run(*, run_id: int) -> AuditVerification | None:
    """Claim check ``run_id`` and run it; None when it was not queued (taken, or ended).

    Never raises for a broken chain (that is a result); an error while checking ends the
    check as failed with the error's name, and the page says to start it again.
    """
    claimed = AuditVerification.objects.filter(pk=run_id, state=AuditVerification.State.QUEUED)
    if not claimed.update(
        state=AuditVerification.State.RUNNING, started_at=Now(), heartbeat_at=Now()
    ):
        return None
    head = AuditChainHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0
    AuditVerification.objects.filter(pk=run_id).update(total=head)
    run = AuditVerification.objects.get(pk=run_id)
    progress = _ProgressWriter(run_id)
    try:
        result = audit_verify(expect_head=run.expect_head or None, progress=progress)
    except Exception as e:
        logger.exception("chain check %s failed", run_id)
        AuditVerification.objects.filter(pk=run_id, state=AuditVerification.State.RUNNING).update(
            state=AuditVerification.State.FAILED,
            finished_at=Now(),
            error=f"the check stopped with {type(e).__name__}: start it again",
        )
        return AuditVerification.objects.get(pk=run_id)
    finally:
        progress.close()
    AuditVerification.objects.filter(pk=run_id, state=AuditVerification.State.RUNNING).update(
        state=AuditVerification.State.DONE,
        finished_at=Now(),
        heartbeat_at=Now(),
        checked=result.checked,
        total=max(result.checked, run.total),
        ok=result.ok,
        result=result.as_dict(),
    )
    return AuditVerification.objects.get(pk=run_id)


def verifications_sweep() -> None:
    """Re-send queued checks nobody took; end running checks whose worker went silent."""
    now = timezone.now()
    lost = AuditVerification.objects.filter(
        state=AuditVerification.State.QUEUED, created_at__lt=now - SEND_AGAIN_AFTER
    ).exclude(sent_at__gt=now - SEND_AGAIN_AFTER)
    for run_id in lost.values_list("pk", flat=True):
        try:
            _send(run_id)
        except Exception:
            logger.warning("chain check %s: the broker did not take it; trying later", run_id)
    AuditVerification.objects.filter(
        state=AuditVerification.State.RUNNING, heartbeat_at__lt=now - SILENT_AFTER
    ).update(
        state=AuditVerification.State.FAILED,
        finished_at=Now(),
        error="the worker running the check stopped answering: start it again",
    )
