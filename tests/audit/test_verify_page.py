"""The "Verify chain" button: on demand, for leads and auditors, and it finds tampering."""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from release_portal.audit import views
from tests.audit.conftest import disable_append_only_trigger, record

URL = reverse("audit_verify")


def verify(client, user, **data):
    client.force_login(user)
    return client.post(URL, data)


@pytest.mark.parametrize("role", ["platform_lead", "auditor"])
def test_it_verifies_the_whole_chain_for_leads_and_auditors(client, personas, events, role):
    response = verify(client, personas[role])
    assert response.status_code == 200
    html = response.content.decode()
    assert "Chain verified:</strong> 6 events link up to head #6" in html
    assert events["nobody"][0].hash in html


@pytest.mark.parametrize("role", ["release_engineer", "qa_lead", "sre"])
def test_it_refuses_the_check_to_other_roles(client, personas, events, role):
    assert verify(client, personas[role]).status_code == 403


def test_it_needs_a_post(client, personas, events):
    client.force_login(personas["auditor"])
    assert client.get(URL).status_code == 405


def test_it_never_runs_the_check_on_a_page_view(client, personas, events, monkeypatch):
    def fail(**kwargs):
        raise AssertionError("audit_verify ran on a page view")

    monkeypatch.setattr(views, "audit_verify", fail)
    client.force_login(personas["auditor"])
    assert client.get(reverse("audit_log")).status_code == 200


def test_it_shows_the_broken_link_after_tampering(client, personas, events):
    disable_append_only_trigger()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET actor_name = 'eve' WHERE seq = 2")
    html = verify(client, personas["auditor"]).content.decode()
    assert "Chain broken at event #2:</strong> event #2 was changed after it was written" in html
    assert "1 event verified before it" in html
    assert "Chain verified" not in html


def test_it_shows_removed_events(client, personas, events):
    disable_append_only_trigger()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE seq = 3")
    html = verify(client, personas["platform_lead"]).content.decode()
    assert "Chain broken at event #3:</strong> event #3 is missing" in html


def test_it_answers_htmx_with_the_result_fragment(client, personas, events):
    client.force_login(personas["auditor"])
    response = client.post(URL, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="verify-result" role="status">')
    assert "<html" not in html and "Chain verified" in html


def test_it_checks_a_head_hash_copied_from_an_earlier_report(client, personas, project):
    first = record("item.tick", project=project)
    copied = record("item.tick", project=project).hash
    ok = verify(client, personas["auditor"], expect_head=copied.upper()).content.decode()
    assert "the head hash you gave is in the chain" in ok
    disable_append_only_trigger()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE seq = 2")
        cursor.execute("UPDATE audit_auditchainhead SET seq = 1, hash = %s", [first.hash])
    html = verify(client, personas["auditor"], expect_head=copied).content.decode()
    assert "from an earlier report is not in the chain" in html


def test_it_explains_a_mistyped_head_hash(client, personas, events):
    response = verify(client, personas["auditor"], expect_head="not-a-hash")
    assert response.status_code == 400
    assert "64 hexadecimal characters" in response.content.decode()
