"""The "Verify chain" button: a check on a worker, for leads and auditors, with progress."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from release_portal.audit import verification
from release_portal.audit.chain import CANONICAL_CHECK, CANONICAL_CHECK_SQL
from release_portal.audit.models import AuditEvent, AuditVerification
from tests.audit.conftest import disable_append_only_trigger, record

URL = reverse("audit_verify")


def start(client, user, **data):
    client.force_login(user)
    return client.post(URL, data)


def run_queued() -> AuditVerification:
    """What the worker does with the queued check."""
    run = AuditVerification.objects.get(state="queued")
    result = verification.verification_run(run_id=run.pk)
    assert result is not None
    return result


def status(client, run, htmx=False):
    headers = {"HX-Request": "true"} if htmx else {}
    return client.get(reverse("audit_verification", args=[run.pk]), headers=headers)


@pytest.mark.parametrize("role", ["platform_lead", "auditor"])
def test_it_queues_a_check_for_leads_and_auditors_and_shows_its_result(
    client, personas, events, role, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr(verification, "_send", lambda run_id: sent.append(run_id))
    with django_capture_on_commit_callbacks(execute=True):
        response = start(client, personas[role])
    assert response.status_code == 200
    run = AuditVerification.objects.get()
    assert sent == [run.pk]  # after commit, to a worker
    assert f"Chain check #{run.pk} waits for a worker" in response.content.decode()
    # Recorded in the project's log, like an export.
    event = AuditEvent.objects.get(action="audit.verify")
    assert event.actor_name == personas[role].username and event.data["check"] == run.pk
    run_queued()
    html = status(client, run).content.decode()
    assert "Chain verified</strong>" in html
    assert f"{AuditEvent.objects.count()} events link up to head #" in html


@pytest.mark.parametrize("role", ["release_engineer", "qa_lead", "sre"])
def test_it_refuses_the_check_to_other_roles(client, personas, events, role):
    assert start(client, personas[role]).status_code == 403
    assert not AuditVerification.objects.exists()
    run = AuditVerification.objects.create(requested_by_name="auditor")
    assert status(client, run).status_code == 403


def test_it_needs_a_post(client, personas, events):
    client.force_login(personas["auditor"])
    assert client.get(URL).status_code == 405


def test_it_never_runs_the_check_in_a_request(client, personas, events, monkeypatch):
    def fail(**kwargs):
        raise AssertionError("the chain was checked in a web request")

    monkeypatch.setattr(verification, "audit_verify", fail)
    client.force_login(personas["auditor"])
    assert client.get(reverse("audit_log")).status_code == 200
    assert start(client, personas["auditor"]).status_code == 200


def test_a_second_click_joins_the_check_in_progress(client, personas, events):
    start(client, personas["auditor"])
    response = start(client, personas["platform_lead"])
    assert AuditVerification.objects.count() == 1
    assert "already running: started by auditor" in response.content.decode()


def test_it_polls_while_the_check_runs_and_stops_when_it_ends(client, personas, events):
    client.force_login(personas["auditor"])
    response = client.post(URL, headers={"HX-Request": "true"})
    html = response.content.decode()
    run = AuditVerification.objects.get()
    assert html.lstrip().startswith('<div id="verify-result" role="status"')
    assert f'hx-get="{reverse("audit_verification", args=[run.pk])}" hx-trigger="every 1s"' in html
    assert "<html" not in html
    AuditVerification.objects.filter(pk=run.pk).update(state="running", total=10, checked=4)
    html = status(client, run, htmx=True).content.decode()
    assert "Checking the chain: 4 of 10 events" in html and '<progress max="10" value="4">' in html
    run_running_to_end(run)
    ended = status(client, run, htmx=True)
    assert ended.status_code == 286  # htmx stops polling, and still shows the result
    assert "hx-trigger" not in ended.content.decode()


def run_running_to_end(run):
    AuditVerification.objects.filter(pk=run.pk).update(state="queued")
    verification.verification_run(run_id=run.pk)


def test_it_shows_the_broken_link_after_tampering(client, personas, events):
    disable_append_only_trigger()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET actor_name = 'eve' WHERE seq = 2")
    start(client, personas["auditor"])
    run = run_queued()
    assert run.ok is False and run.result["seq"] == 2
    html = status(client, run).content.decode()
    assert "Chain broken at event #2:</strong> event #2 was changed after it was written" in html
    assert "1 event verified before it" in html
    assert "Chain verified" not in html


def test_it_shows_removed_events(client, personas, events):
    disable_append_only_trigger()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE seq = 3")
    start(client, personas["platform_lead"])
    html = status(client, run_queued()).content.decode()
    assert "Chain broken at event #3:</strong> event #3 is missing" in html


def test_it_checks_a_head_hash_copied_from_an_earlier_report(client, personas, project):
    first = record("item.tick", project=project)
    copied = record("item.tick", project=project).hash
    start(client, personas["auditor"], expect_head=copied.upper())
    ok = status(client, run_queued()).content.decode()
    assert "the head hash given is in the chain" in ok
    disable_append_only_trigger()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE seq >= 2")
        cursor.execute(
            "UPDATE audit_auditchainhead SET seq = 1, hash = %s, public_hash = %s",
            [first.hash, first.public_hash],
        )
        # The constraint is gone with the trigger off; put it back, as a careful intruder would.
        cursor.execute(
            f"ALTER TABLE audit_auditevent ADD CONSTRAINT {CANONICAL_CHECK} "
            f"CHECK {CANONICAL_CHECK_SQL}"
        )
    start(client, personas["auditor"], expect_head=copied)
    html = status(client, run_queued()).content.decode()
    assert "(" + copied[:16] + "...) is not in the chain" in html


def test_a_head_hash_not_in_an_intact_chain_is_not_called_a_broken_link(client, personas, project):
    """Every event links up: the page said "Chain broken: ... 2 events verified before it",
    blaming removed events first for what is most often a hash copied from elsewhere."""
    record("item.tick", project=project)
    record("item.tick", project=project)
    start(client, personas["auditor"], expect_head="ab" * 32)
    html = status(client, run_queued()).content.decode()
    assert (
        "Chain check failed:</strong> the head hash given (abababababababab...) is not in" in html
    )
    assert "copied whole from this portal" in html
    assert "3 events checked, up to #3" in html  # with the check's own event
    assert "Chain broken" not in html and "verified before it" not in html


def test_it_explains_a_mistyped_head_hash(client, personas, events):
    response = start(client, personas["auditor"], expect_head="not-a-hash")
    assert response.status_code == 400
    assert "64 hexadecimal characters" in response.content.decode()
    assert not AuditVerification.objects.exists()


def test_the_sweep_sends_a_lost_check_again_and_ends_a_silent_one(monkeypatch, db):
    sent = []
    monkeypatch.setattr(verification, "_send", lambda run_id: sent.append(run_id))
    long_ago = timezone.now() - timedelta(minutes=10)
    lost = AuditVerification.objects.create(requested_by_name="auditor")
    AuditVerification.objects.filter(pk=lost.pk).update(created_at=long_ago, sent_at=long_ago)
    verification.verifications_sweep()
    assert sent == [lost.pk]
    AuditVerification.objects.filter(pk=lost.pk).update(state="running", heartbeat_at=long_ago)
    verification.verifications_sweep()
    lost.refresh_from_db()
    assert lost.state == "failed" and "stopped answering" in lost.error


def test_a_duplicate_message_runs_the_check_once(events):
    run = AuditVerification.objects.create(requested_by_name="auditor")
    assert verification.verification_run(run_id=run.pk) is not None
    assert verification.verification_run(run_id=run.pk) is None  # already done


@pytest.mark.django_db(transaction=True)
def test_progress_is_visible_while_the_check_runs(project, monkeypatch):
    for _ in range(5):
        record("item.tick", project=project)
    run = AuditVerification.objects.create(requested_by_name="auditor")
    seen = []

    class Spy(verification._ProgressWriter):
        def __call__(self, checked: int, total: int) -> None:
            super().__call__(checked, total)
            # What the page reads meanwhile: committed, outside the check's snapshot.
            with self.connection.cursor() as cursor:
                cursor.execute(
                    "SELECT checked, total FROM audit_auditverification WHERE id = %s", [run.pk]
                )
                seen.append(cursor.fetchone())

    monkeypatch.setattr("release_portal.audit.verify.PROGRESS_EVERY", 2)
    monkeypatch.setattr(verification, "_ProgressWriter", Spy)
    done = verification.verification_run(run_id=run.pk)
    assert done is not None and done.ok and done.checked == 5
    assert (2, 5) in seen and (4, 5) in seen
