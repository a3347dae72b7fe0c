"""Events reach webhooks from their sources: a failed job, and the hook functions."""

from __future__ import annotations

import json

import pytest
from django.db import transaction

from migrations_ops.jobs import hooks
from migrations_ops.jobs.kinds import kind_spec
from migrations_ops.models import Job
from release_portal.audit.models import AuditEvent
from release_portal.notify import OUTBOXES, SINKS, notify
from release_portal.webhooks import events
from release_portal.webhooks.models import Webhook, WebhookMessage
from release_portal.webhooks.sinks import deliver_event, register
from tests.migrations_ops.jobs.factories import JobFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def subscribed(project):
    return Webhook.objects.create(
        project=project, name="ops", url="https://hooks.example.com/x",
        events=["job.failed", "release.approved", "monitoring.alert"],
    )  # fmt: skip


def finish(job, state, django_capture_on_commit_callbacks):
    Job.objects.filter(pk=job.pk).update(state=state, summary="2 files out of order")
    job.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        hooks.job_ended(job, ends=kind_spec(job.kind).ends)


@pytest.mark.parametrize("state", ["failed", "timed_out"])
def test_a_failed_job_is_announced_to_webhooks(
    project, release, subscribed, webhook_sent, django_capture_on_commit_callbacks, state
):
    job = JobFactory(project=project, release=release, kind="order", state="running")
    finish(job, state, django_capture_on_commit_callbacks)
    message = WebhookMessage.objects.get()
    body = json.loads(message.body)
    assert (message.event, body["data"]["job"], body["data"]["state"]) == (
        "job.failed",
        job.pk,
        state,
    )
    assert "2 files out of order" in body["summary"]
    assert body["release"]["id"] == release.pk
    assert AuditEvent.objects.filter(action="notify.job.failed").count() == 1
    assert webhook_sent == [(message.pk, None)]


def test_a_succeeded_job_is_not_announced(
    project, release, subscribed, webhook_sent, django_capture_on_commit_callbacks
):
    job = JobFactory(project=project, release=release, kind="order", state="running")
    finish(job, "succeeded", django_capture_on_commit_callbacks)
    assert not WebhookMessage.objects.exists()


def test_a_failed_job_without_a_release_is_announced_for_its_project(
    project, subscribed, webhook_sent, django_capture_on_commit_callbacks
):
    job = JobFactory(project=project, kind="secrets", state="running")
    finish(job, "failed", django_capture_on_commit_callbacks)
    body = json.loads(WebhookMessage.objects.get().body)
    assert body["release"] is None and body["project"]["id"] == project.pk


def test_the_release_approved_hook_reaches_subscribed_webhooks(
    release, subscribed, platform_lead, webhook_sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        events.release_approved(release=release, actor=platform_lead)
    message = WebhookMessage.objects.get()
    assert message.event == "release.approved"
    assert json.loads(message.body)["data"]["digest"] == release.digest
    event = AuditEvent.objects.get(action="notify.release.approved")
    assert event.actor_name == platform_lead.username


def test_the_outbox_is_registered_once_with_the_notify_hub():
    register()  # as AppConfig.ready() did
    assert OUTBOXES.count(deliver_event) == 1
    assert deliver_event not in SINKS


@pytest.mark.parametrize("with_release", [True, False])
def test_it_writes_the_messages_in_the_transaction_that_announces_them(
    project, release, subscribed, webhook_sent, django_capture_on_commit_callbacks, with_release
):
    # The after-commit callbacks never run (as when the process dies right after the
    # commit): the message rows committed with the change, for the sweep to send.
    job = JobFactory(
        project=project, release=release if with_release else None, kind="order", state="failed"
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks, transaction.atomic():
        events.job_failed(job)
        assert WebhookMessage.objects.filter(event="job.failed").count() == 1
    assert callbacks  # the broker is only told after commit
    assert webhook_sent == []
    message = WebhookMessage.objects.get()
    assert message.state == WebhookMessage.State.PENDING


def test_the_messages_roll_back_with_the_change(project, release, subscribed, webhook_sent):
    job = JobFactory(project=project, release=release, kind="order", state="failed")
    with pytest.raises(RuntimeError), transaction.atomic():
        events.job_failed(job)
        raise RuntimeError("the change fails after announcing")
    assert not WebhookMessage.objects.exists()


def test_a_notification_from_elsewhere_reaches_subscribed_webhooks(
    release, project, platform_lead, webhook_sent, django_capture_on_commit_callbacks
):
    Webhook.objects.create(
        project=project, name="glass", url="https://hooks.example.com/g",
        events=["gate.break_glass"],
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        notify("gate.break_glass", release, {"reason": "prod down"}, actor=platform_lead)
    message = WebhookMessage.objects.get()
    assert message.event == "gate.break_glass"
    assert json.loads(message.body)["data"] == {"reason": "prod down"}
