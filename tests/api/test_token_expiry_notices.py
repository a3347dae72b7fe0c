"""The daily beat task tells a project's platform leads, once per token, that a live API
token enters its last 7 days: a mail to each lead, the project's webhooks subscribed to
``api_token.expiring``, and the change log."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone

from release_portal.accounts.roles import Role
from release_portal.api import tasks
from release_portal.api.expiry import token_expiry_notices
from release_portal.api.models import ApiToken
from release_portal.audit.models import AuditEvent
from release_portal.audit.registry import phrase_for
from release_portal.templatetags.portal import utc_time
from release_portal.webhooks.models import Webhook, WebhookMessage
from tests.factories import MembershipFactory, UserFactory
from tests.locking import other_connection, run_behind

ACTION = "notify.api_token.expiring"


def expiring_in(token: ApiToken, delta: timedelta | None) -> ApiToken:
    at = None if delta is None else timezone.now() + delta
    ApiToken.objects.filter(pk=token.pk).update(expires_at=at)
    token.refresh_from_db()
    return token


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Run the beat task as beat does, with what it sends after commit."""

    def run() -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return tasks.token_expiry_notices()

    return run


@pytest.fixture
def webhook_sent(monkeypatch):
    from release_portal.webhooks import sinks

    sent: list[int] = []
    monkeypatch.setattr(sinks, "send_message", lambda message_id, **kw: sent.append(message_id))
    return sent


@pytest.mark.django_db
def test_it_tells_the_leads_once_however_often_it_runs(
    project, platform_lead, make_token, run, webhook_sent, settings
):
    settings.PORTAL_BASE_URL = "https://releases.example.com"
    hook = Webhook.objects.create(
        project=project, name="ops", url="https://hooks.example.com/x",
        events=["api_token.expiring"],
    )  # fmt: skip
    token = expiring_in(make_token(name="github-actions").token, timedelta(days=3))
    mail.outbox.clear()

    assert run() == 1
    assert run() == 0  # the second day (or a second worker) finds it told

    assert [m.to for m in mail.outbox] == [[platform_lead.email]]
    sent = mail.outbox[0]
    when = utc_time(token.expires_at)
    assert sent.subject == f"Ibimina: the API token github-actions expires on {when}"
    assert f"The API token github-actions of Ibimina (rp_{token.key_id}_…" in sent.body
    assert f"expires on {when}" in sent.body
    assert "https://releases.example.com/projects/ibimina/tokens/" in sent.body
    token.refresh_from_db()
    assert token.expiry_notified_at is not None

    event = AuditEvent.objects.get(action=ACTION)
    assert AuditEvent.objects.filter(action=ACTION).count() == 1
    assert event.data["token"] == "github-actions"
    assert event.data["leads"] == ["lead"]
    assert event.data["path"] == "/projects/ibimina/tokens/"
    assert event.project_id == project.pk
    assert phrase_for(event).startswith("sent the “API token expiring soon” notification")

    message = WebhookMessage.objects.get(webhook=hook)
    body = json.loads(message.body)
    assert (message.event, body["data"]["token"]) == ("api_token.expiring", "github-actions")
    assert body["summary"] == (
        f"the API token github-actions expires on {when}: a platform lead creates its "
        "successor at /projects/ibimina/tokens/"
    )
    assert webhook_sent == [message.pk]


@pytest.mark.django_db
def test_it_mails_the_projects_active_leads_and_nobody_else(
    project, other_project, platform_lead, personas, make_token, run
):
    second = UserFactory(username="second-lead")
    MembershipFactory(user=second, project=project, role=Role.PLATFORM_LEAD)
    gone = UserFactory(username="gone-lead", is_active=False)
    MembershipFactory(user=gone, project=project, role=Role.PLATFORM_LEAD)
    # The other project's lead (personas' outsider) has a token expiring too: told apart.
    expiring_in(make_token(name="ci").token, timedelta(days=2))
    expiring_in(
        make_token(name="theirs", for_project=other_project, lead=personas["outsider"]).token,
        timedelta(days=5),
    )
    mail.outbox.clear()

    assert run() == 2
    told = {}
    for sent in mail.outbox:
        assert len(sent.to) == 1  # nobody sees the others' addresses
        told.setdefault(sent.subject.split(" expires on ")[0], []).append(sent.to[0])
    # Not releng, qa, sre, the auditor, a deactivated lead, nor the other project's lead.
    assert {k: sorted(v) for k, v in told.items()} == {
        "Ibimina: the API token ci": sorted([platform_lead.email, second.email]),
        "Other team: the API token theirs": [personas["outsider"].email],
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "case", ["revoked", "expired", "never expires", "30 days off", "8 days off", "told before"]
)
def test_it_tells_nothing_of_a_token_outside_its_last_days(
    project, platform_lead, make_token, run, case
):
    token = make_token().token
    delta = {"expired": -timedelta(minutes=1), "never expires": None,
             "30 days off": timedelta(days=30), "8 days off": timedelta(days=8)}  # fmt: skip
    expiring_in(token, delta.get(case, timedelta(days=3)))
    if case == "revoked":
        ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    if case == "told before":
        ApiToken.objects.filter(pk=token.pk).update(expiry_notified_at=timezone.now())
    mail.outbox.clear()

    assert run() == 0
    assert mail.outbox == []
    assert not AuditEvent.objects.filter(action=ACTION).exists()
    if case != "told before":
        assert ApiToken.objects.get(pk=token.pk).expiry_notified_at is None


@pytest.mark.django_db
def test_a_rollback_leaves_the_token_for_the_next_run(
    project, platform_lead, make_token, run, monkeypatch
):
    from release_portal.webhooks import events

    token = expiring_in(make_token().token, timedelta(days=3))

    def broken(**kwargs):
        raise RuntimeError("the change log is down")

    monkeypatch.setattr(events, "api_token_expiring", broken)
    mail.outbox.clear()
    assert run() == 0
    assert ApiToken.objects.get(pk=token.pk).expiry_notified_at is None
    assert mail.outbox == []
    monkeypatch.undo()
    assert run() == 1
    assert len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_a_second_worker_waits_for_the_first_and_then_sends_nothing(
    project, platform_lead, make_token
):
    token = expiring_in(make_token().token, timedelta(days=3))
    mail.outbox.clear()
    with other_connection() as first:  # the first worker: claimed the token, not committed yet
        first.execute(
            "UPDATE api_apitoken SET expiry_notified_at = now() "
            "WHERE id = %s AND expiry_notified_at IS NULL",
            [token.pk],
        )
        outcome = run_behind(first, "the second worker", token_expiry_notices)
    assert outcome == [0]
    assert mail.outbox == []
    assert not AuditEvent.objects.filter(action=ACTION).exists()


def test_beat_runs_it_daily():
    entry = settings.CELERY_BEAT_SCHEDULE["api-token-expiry-notices"]
    assert entry["task"] == tasks.token_expiry_notices.name
    assert entry["schedule"].hour == {7} and entry["schedule"].minute == {0}


@pytest.mark.django_db
def test_the_tokens_page_says_when_the_leads_were_told(
    client, project, platform_lead, make_token, run, webhook_sent
):
    from django.urls import reverse

    token = expiring_in(make_token(name="ci").token, timedelta(days=3))
    page = reverse("project_tokens", kwargs={"slug": project.slug})
    client.force_login(platform_lead)
    assert "leads told" not in client.get(page).content.decode()
    run()
    token.refresh_from_db()
    told = f"leads told {utc_time(token.expiry_notified_at)}"
    assert told in client.get(page).content.decode()


class MailServerDown:
    """The mail server refuses every mail while ``down``; counts each one it is handed."""

    def __init__(self, monkeypatch) -> None:
        from django.core.mail import EmailMessage

        self.down = True
        self.handed: list[list[str]] = []
        send = EmailMessage.send

        def refusing(message, fail_silently=False):
            self.handed.append(list(message.to))
            if self.down:
                raise ConnectionRefusedError(111, "Connection refused")
            return send(message, fail_silently=fail_silently)

        monkeypatch.setattr(EmailMessage, "send", refusing)


@pytest.mark.django_db
def test_a_mail_the_server_refused_is_tried_again_until_it_is_sent(
    project, platform_lead, make_token, run, monkeypatch
):
    """The mail went out after commit with nothing kept: a refused send was logged and
    lost, while the token stood announced, so no later run tried again."""
    from release_portal.api.expiry import RETRY_DELAYS
    from release_portal.api.models import ExpiryMail

    token = expiring_in(make_token(name="ci").token, timedelta(days=3))
    server = MailServerDown(monkeypatch)
    mail.outbox.clear()

    assert run() == 1
    pending = ExpiryMail.objects.get()
    assert (pending.state, pending.attempts, pending.email) == ("pending", 1, platform_lead.email)
    assert pending.last_error == "ConnectionRefusedError: [Errno 111] Connection refused"
    assert pending.next_attempt_at > timezone.now() + RETRY_DELAYS[0] - timedelta(minutes=1)
    assert mail.outbox == []

    # Not due yet: the retry task leaves it; the daily notices never announce it twice.
    assert tasks.token_expiry_mails() == 0
    assert run() == 0 and len(server.handed) == 1

    server.down = False
    ExpiryMail.objects.update(next_attempt_at=timezone.now())
    assert tasks.token_expiry_mails() == 1
    assert tasks.token_expiry_mails() == 0  # sent: never again
    assert [m.to for m in mail.outbox] == [[platform_lead.email]]
    assert mail.outbox[0].subject.startswith("Ibimina: the API token ci expires on")
    sent = ExpiryMail.objects.get()
    assert (sent.state, sent.attempts, sent.last_error) == ("sent", 2, "")
    assert sent.sent_at is not None
    assert token.pk == sent.token_id


@pytest.mark.django_db
def test_a_retry_mails_only_the_leads_who_did_not_get_it(
    project, platform_lead, make_token, run, monkeypatch
):
    """send_mass_mail sent the leads' mails in one go: a retry of the lot would have
    mailed those who got it a second time."""
    from django.core.mail import EmailMessage

    from release_portal.api.models import ExpiryMail

    second = UserFactory(username="second-lead")
    MembershipFactory(user=second, project=project, role=Role.PLATFORM_LEAD)
    expiring_in(make_token().token, timedelta(days=3))
    working = EmailMessage.send
    refused = {second.email}

    def refuse_some(message, fail_silently=False):
        if set(message.to) & refused:
            raise OSError("mailbox unavailable")
        return working(message, fail_silently=fail_silently)

    monkeypatch.setattr(EmailMessage, "send", refuse_some)
    mail.outbox.clear()
    run()
    assert [m.to for m in mail.outbox] == [[platform_lead.email]]
    ExpiryMail.objects.update(next_attempt_at=timezone.now())
    refused.clear()
    assert tasks.token_expiry_mails() == 1
    assert [m.to for m in mail.outbox] == [[platform_lead.email], [second.email]]


@pytest.mark.django_db
def test_it_gives_up_after_its_tries_and_the_tokens_page_says_so(
    client, project, platform_lead, make_token, run, monkeypatch
):
    from django.urls import reverse

    from release_portal.api.expiry import RETRY_DELAYS
    from release_portal.api.models import ExpiryMail

    expiring_in(make_token(name="ci").token, timedelta(days=3))
    MailServerDown(monkeypatch)
    page = reverse("project_tokens", kwargs={"slug": project.slug})
    client.force_login(platform_lead)
    run()
    html = client.get(page).content.decode()
    assert f"mail pending</span> to {platform_lead.email} (try 1 failed:" in html
    for _ in RETRY_DELAYS:
        ExpiryMail.objects.update(next_attempt_at=timezone.now())
        tasks.token_expiry_mails()
    gave_up = ExpiryMail.objects.get()
    assert (gave_up.state, gave_up.attempts) == ("failed", len(RETRY_DELAYS) + 1)
    assert tasks.token_expiry_mails() == 0
    html = client.get(page).content.decode()
    assert f"mail not sent</span> to {platform_lead.email}: ConnectionRefusedError" in html


@pytest.mark.django_db
def test_a_mail_whose_sender_stopped_mid_send_is_not_sent_twice(
    project, platform_lead, make_token, run, monkeypatch
):
    """It may have gone out before the worker died: it is marked failed, saying so."""
    from release_portal.api.expiry import STUCK_AFTER
    from release_portal.api.models import ExpiryMail

    expiring_in(make_token().token, timedelta(days=3))
    MailServerDown(monkeypatch)
    run()
    ExpiryMail.objects.update(
        state="sending", claimed_at=timezone.now() - STUCK_AFTER - timedelta(seconds=1),
        next_attempt_at=timezone.now(),
    )  # fmt: skip
    mail.outbox.clear()
    assert tasks.token_expiry_mails() == 0
    stuck = ExpiryMail.objects.get()
    assert stuck.state == "failed" and "it may have gone out" in stuck.last_error
    assert mail.outbox == []


@pytest.mark.django_db
def test_a_pending_mail_of_a_revoked_token_is_not_sent(
    project, platform_lead, make_token, run, monkeypatch
):
    from release_portal.api.models import ExpiryMail

    token = expiring_in(make_token().token, timedelta(days=3))
    server = MailServerDown(monkeypatch)
    run()
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    server.down = False
    ExpiryMail.objects.update(next_attempt_at=timezone.now())
    mail.outbox.clear()
    assert tasks.token_expiry_mails() == 0
    assert mail.outbox == [] and len(server.handed) == 1
    assert ExpiryMail.objects.get().last_error == "not sent: the token is revoked now"


@pytest.mark.django_db
def test_a_mail_is_claimed_before_its_try_so_a_second_try_sends_nothing(
    project, platform_lead, make_token
):
    from release_portal.api.expiry import _expiry_mail_try
    from release_portal.api.models import ExpiryMail

    token = expiring_in(make_token().token, timedelta(days=3))
    now = timezone.now()
    row = ExpiryMail.objects.create(
        token=token, user=platform_lead, email=platform_lead.email, subject="s", body="b",
        next_attempt_at=now,
    )  # fmt: skip
    mail.outbox.clear()
    assert _expiry_mail_try(mail_id=row.pk, now=now) is True
    assert _expiry_mail_try(mail_id=row.pk, now=now) is False  # the claim is gone
    assert len(mail.outbox) == 1


def test_beat_tries_refused_mails_again_every_few_minutes():
    entry = settings.CELERY_BEAT_SCHEDULE["api-token-expiry-mails"]
    assert entry["task"] == tasks.token_expiry_mails.name
    assert entry["schedule"] <= 600


@pytest.mark.django_db
def test_a_mail_tried_late_in_a_long_run_is_not_taken_for_a_stuck_one(
    project, platform_lead, make_token, monkeypatch
):
    """Its claim was stamped with the run's start: a mail reached after minutes of slow
    sends looked stuck at once, and a second run marked it failed while it was sent."""
    from django.core.mail import EmailMessage

    from release_portal.api.expiry import STUCK_AFTER, _expiry_mail_try, expiry_mails_send
    from release_portal.api.models import ExpiryMail

    token = expiring_in(make_token().token, timedelta(days=3))
    started = timezone.now() - STUCK_AFTER - timedelta(minutes=1)
    row = ExpiryMail.objects.create(
        token=token, user=platform_lead, email=platform_lead.email, subject="s", body="b",
        next_attempt_at=started,
    )  # fmt: skip
    working = EmailMessage.send

    def while_another_run_sweeps(message, fail_silently=False):
        expiry_mails_send()  # a second run, now
        return working(message, fail_silently=fail_silently)

    monkeypatch.setattr(EmailMessage, "send", while_another_run_sweeps)
    mail.outbox.clear()
    assert _expiry_mail_try(mail_id=row.pk, now=started) is True
    row.refresh_from_db()
    assert (row.state, row.last_error) == ("sent", "")
    assert len(mail.outbox) == 1
