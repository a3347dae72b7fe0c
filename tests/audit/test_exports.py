"""Exports of the change log: who may take them, what they hold, and that they stream."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse

from release_portal.audit.chain import verify_events
from release_portal.audit.models import AuditEvent
from release_portal.audit.services import hmac_key
from tests.audit.conftest import record

FORMATS = ["csv", "jsonl"]


def export(client, user, fmt, **params):
    client.force_login(user)
    return client.get(reverse(f"audit_export_{fmt}"), params)


def body(response):
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content).decode()


def parse_csv(response) -> tuple[list[dict], dict]:
    rows = list(csv.DictReader(io.StringIO(body(response))))
    assert [r["record"] for r in rows[:-1]] == ["event"] * (len(rows) - 1)
    assert rows[-1]["record"] == "head"
    return rows[:-1], rows[-1]


def parse_jsonl(response) -> tuple[dict, list[dict], dict]:
    lines = [json.loads(line) for line in body(response).splitlines()]
    assert lines[0]["type"] == "export" and lines[-1]["type"] == "head"
    assert {line["type"] for line in lines[1:-1]} <= {"event"}
    return lines[0], lines[1:-1], lines[-1]


def exported_seqs(response, fmt) -> list[int]:
    if fmt == "csv":
        return [int(row["seq"]) for row in parse_csv(response)[0]]
    return [line["seq"] for line in parse_jsonl(response)[1]]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("role", ["platform_lead", "auditor"])
def test_it_exports_the_projects_events_to_leads_and_auditors(
    client, personas, events, project, fmt, role
):
    response = export(client, personas[role], fmt)
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Disposition"].startswith("attachment; filename=")
    exported = AuditEvent.objects.filter(action="audit.export").get()
    # Ours, oldest first, then the export's own event: never another project's or no project's.
    assert exported_seqs(response, fmt) == [e.seq for e in events["ours"]] + [exported.seq]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("role", ["release_engineer", "qa_lead", "sre"])
def test_it_refuses_exports_to_other_roles(client, personas, events, fmt, role):
    response = export(client, personas[role], fmt)
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action="audit.export").exists()


@pytest.mark.parametrize("fmt", FORMATS)
def test_it_gives_the_outsider_only_their_own_projects_events(
    client, personas, events, project, fmt
):
    response = export(client, personas["outsider"], fmt)
    seqs = exported_seqs(response, fmt)
    assert not set(seqs) & {e.seq for e in events["ours"] + events["nobody"]}
    assert set(seqs) >= {e.seq for e in events["theirs"]}
    # Asking for our project by id is a filter error, not a way in.
    assert export(client, personas["outsider"], fmt, project=project.pk).status_code == 400


def test_it_exports_only_projects_where_the_person_may_export(
    client, personas, events, other_project
):
    from tests.factories import MembershipFactory

    auditor = personas["auditor"]
    MembershipFactory(user=auditor, project=other_project, role="qa_lead")
    seqs = exported_seqs(export(client, auditor, "jsonl"), "jsonl")
    assert not set(seqs) & {e.seq for e in events["theirs"]}
    assert export(client, auditor, "jsonl", project=other_project.pk).status_code == 403


@pytest.mark.parametrize("fmt", FORMATS)
def test_it_applies_the_filter(client, personas, events, project, fmt):
    response = export(client, personas["auditor"], fmt, action="item.", actor="qa")
    assert exported_seqs(response, fmt) == [events["ours"][1].seq]
    assert json.loads(response["X-Audit-Filter"]) == {
        "action": "item.", "actor": "qa", "projects": [project.pk]
    }  # fmt: skip


def test_it_refuses_an_invalid_filter_without_exporting(client, personas, events):
    response = export(client, personas["auditor"], "csv", before="x", since="yesterday")
    assert response.status_code == 400
    assert not AuditEvent.objects.filter(action="audit.export").exists()


def test_the_csv_parses_back_with_the_head_in_headers_and_last_row(
    client, personas, events, project
):
    response = export(client, personas["auditor"], "csv", action="member.")
    rows, head_row = parse_csv(response)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    exported = AuditEvent.objects.get(action="audit.export")
    assert response["X-Audit-Head-Seq"] == str(exported.seq)
    assert response["X-Audit-Head-Hash"] == exported.hash
    assert (head_row["seq"], head_row["hash"]) == (str(exported.seq), exported.hash)
    trailer = json.loads(head_row["data"])
    assert trailer["count"] == 1
    assert trailer["filter"] == {"action": "member.", "projects": [project.pk]}
    assert head_row["actor_name"] == "auditor"
    [row] = rows
    stored = events["ours"][0]
    assert row["seq"] == str(stored.seq) and row["hash"] == stored.hash
    assert row["prev_hash"] == stored.prev_hash and row["action"] == "member.add"
    assert json.loads(row["data"]) == {"role": "qa_lead"}
    assert row["at"].endswith("Z")


def test_the_jsonl_parses_back_and_its_events_verify_again(client, personas, project):
    for i in range(7):
        record("item.tick", project=project, data={"i": i, "note": "é"})
    response = export(client, personas["platform_lead"], "jsonl")
    first, events, last = parse_jsonl(response)
    exported = AuditEvent.objects.get(action="audit.export")
    assert first["head"] == {"seq": exported.seq, "hash": exported.hash}
    assert last == {
        "type": "head", "seq": exported.seq, "hash": exported.hash, "count": 8,
        "filter": {"projects": [project.pk]},
    }  # fmt: skip
    assert first["exported_by"] == "lead" and first["format"] == "release-portal-audit/1"
    # Every event of the chain belongs to the project here, so the export re-verifies whole.
    result = verify_events(hmac_key(), events)
    assert result.ok, result.problem
    assert result.head_hash == exported.hash


def test_it_neutralises_spreadsheet_formulas_in_csv(client, personas, project):
    record("=cmd|' /C calc'!A0", project=project, actor="+SUM(1,2)", data={"x": 1})
    record('@HYPERLINK("http://evil")', project=project, actor="-2+3", data={})
    record("item.tick", project=project, actor="\tTAB", data={})
    rows, _ = parse_csv(export(client, personas["auditor"], "csv"))
    cells = [(r["action"], r["actor_name"]) for r in rows[:3]]
    assert cells == [
        ("'=cmd|' /C calc'!A0", "'+SUM(1,2)"),
        ('\'@HYPERLINK("http://evil")', "'-2+3"),
        ("item.tick", "'\tTAB"),
    ]
    # JSON Lines carries the exact values (it is JSON, not a spreadsheet).
    _, events, _ = parse_jsonl(export(client, personas["auditor"], "jsonl"))
    assert events[0]["action"] == "=cmd|' /C calc'!A0"


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_export_is_audited_with_its_filter(client, personas, events, project, fmt):
    export(client, personas["auditor"], fmt, action="item.", since="2026-01-01")
    event = AuditEvent.objects.get(action="audit.export")
    assert event.actor_name == "auditor" and event.actor_kind == "user"
    assert event.project_id == project.pk
    assert event.data == {
        "format": fmt, "filter": {"action": "item.", "since": "2026-01-01"},
        "projects": [project.pk],
    }  # fmt: skip


def test_an_export_over_two_projects_is_audited_in_both(
    client, personas, events, project, other_project
):
    from tests.factories import MembershipFactory

    auditor = personas["auditor"]
    MembershipFactory(user=auditor, project=other_project, role="auditor")
    seqs = exported_seqs(export(client, auditor, "jsonl"), "jsonl")
    assert set(seqs) >= {e.seq for e in events["ours"] + events["theirs"]}
    audited = AuditEvent.objects.filter(action="audit.export").values_list("project_id", flat=True)
    assert sorted(audited) == sorted([project.pk, other_project.pk])


def test_it_bounds_the_export_by_the_head_it_states(client, personas, project):
    record("item.tick", project=project)
    client.force_login(personas["auditor"])
    response = client.get(reverse("audit_export_jsonl"))
    # Written after the export started, before its body was read: not in this export.
    late = record("item.tick", project=project)
    _, events, last = parse_jsonl(response)
    assert late.seq not in [e["seq"] for e in events]
    assert last["seq"] == late.seq - 1
