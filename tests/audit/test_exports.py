"""Exports of the change log: who may take them, what they hold, and that they stream."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse

from release_portal.audit.models import AuditCheckpoint, AuditEvent
from tests.audit.conftest import record

FORMATS = ["csv", "jsonl"]


def export(client, user, fmt, **params):
    client.force_login(user)
    return client.get(reverse(f"audit_export_{fmt}"), params)


def body(response):
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content).decode()


def parse_csv(response) -> tuple[list[dict], dict]:
    """The event rows (placeholders left out) and the checkpoint row."""
    rows = list(csv.DictReader(io.StringIO(body(response))))
    assert rows[0]["record"] == "anchor" and rows[-1]["record"] == "checkpoint"
    assert {r["record"] for r in rows[1:-1]} <= {"event", "omitted"}
    return [r for r in rows[1:-1] if r["record"] == "event"], rows[-1]


def parse_jsonl(response) -> tuple[dict, list[dict], dict]:
    """The header, the events (placeholders left out) and the checkpoint."""
    lines = [json.loads(line) for line in body(response).splitlines()]
    assert lines[0]["type"] == "export" and lines[-1]["type"] == "checkpoint"
    assert {line["type"] for line in lines[1:-1]} <= {"event", "omitted"}
    return lines[0], [e for e in lines[1:-1] if e["type"] == "event"], lines[-1]


def newest() -> AuditEvent:
    """The chain head: an export's checkpoint covers its own events (and, the first time,
    the signing key's registration)."""
    event = AuditEvent.objects.order_by("-seq").first()
    assert event is not None
    return event


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
    response = export(client, personas["auditor"], fmt, action="item.*", actor="qa")
    assert exported_seqs(response, fmt) == [events["ours"][1].seq]
    assert json.loads(response["X-Audit-Filter"]) == {
        "action": "item.*", "actor": "qa", "projects": [project.pk]
    }  # fmt: skip


def test_it_refuses_an_invalid_filter_without_exporting(client, personas, events):
    response = export(client, personas["auditor"], "csv", before="x", since="yesterday")
    assert response.status_code == 400
    assert not AuditEvent.objects.filter(action="audit.export").exists()


def test_the_csv_parses_back_with_the_signed_head_in_headers_and_last_row(
    client, personas, events, project
):
    response = export(client, personas["auditor"], "csv", action="member.*")
    rows, checkpoint_row = parse_csv(response)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    exported = newest()
    assert response["X-Audit-Head-Seq"] == str(exported.seq)
    assert response["X-Audit-Head-Hash"] == exported.hash
    assert response["X-Audit-Head-Public-Hash"] == exported.public_hash
    assert (checkpoint_row["seq"], checkpoint_row["hash"], checkpoint_row["public_hash"]) == (
        str(exported.seq), exported.hash, exported.public_hash
    )  # fmt: skip
    checkpoint = json.loads(checkpoint_row["data"])
    assert checkpoint == AuditCheckpoint.objects.get().document
    assert checkpoint["reason"] == "export" and checkpoint["signature"]
    [row] = rows
    stored = events["ours"][0]
    assert row["seq"] == str(stored.seq) and row["hash"] == stored.hash
    assert row["public_hash"] == stored.public_hash and row["digest"] == stored.digest
    assert row["prev_hash"] == stored.prev_hash and row["action"] == "member.add"
    assert json.loads(row["data"]) == {"role": "qa_lead"}
    assert row["at"].endswith("Z")


def test_the_jsonl_carries_the_canonical_form_and_both_hashes(client, personas, project):
    for i in range(7):
        record("item.tick", project=project, data={"i": i, "note": "é", "f": 0.5})
    response = export(client, personas["platform_lead"], "jsonl")
    first, events, last = parse_jsonl(response)
    exported = newest()
    head = {"seq": exported.seq, "hash": exported.hash, "public_hash": exported.public_hash}
    assert first["head"] == head
    assert first["anchor"] == {"seq": 0, "public_hash": "0" * 64, "hash": "0" * 64}
    assert first["exported_by"] == "lead" and first["format"] == "release-portal-audit/2"
    assert {k: last[k] for k in head} == head and last["type"] == "checkpoint"
    # Each line is the stored canonical form plus its hashes.
    for line in events:
        stored = AuditEvent.objects.get(seq=line["seq"])
        fields = {
            k: v for k, v in line.items() if k not in {"type", "digest", "public_hash", "hash"}
        }
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert canonical == stored.canonical
        assert hashlib.sha256(canonical.encode()).hexdigest() == line["digest"] == stored.digest
        assert (line["public_hash"], line["hash"]) == (stored.public_hash, stored.hash)


def test_a_filtered_export_keeps_placeholders_and_the_anchor(
    client, personas, project, other_project
):
    before = record("item.tick", project=project)  # before the window: not in the export
    record("member.add", project=other_project)
    mine = record("item.tick", project=project, actor="qa")
    theirs = record("member.add", project=other_project)
    response = export(client, personas["auditor"], "jsonl", actor="qa")
    lines = [json.loads(line) for line in body(response).splitlines()]
    kinds = [(line["type"], line.get("seq")) for line in lines]
    exported = AuditEvent.objects.get(action="audit.export")
    # The export's own event, then the signing key's first use, both in no filter here.
    assert kinds == [
        ("export", None), ("event", mine.seq), ("omitted", theirs.seq),
        ("omitted", exported.seq), ("omitted", exported.seq + 1), ("checkpoint", exported.seq + 1),
    ]  # fmt: skip
    assert AuditEvent.objects.get(seq=exported.seq + 1).action == "audit.key_register"
    previous = AuditEvent.objects.get(seq=mine.seq - 1)
    assert lines[0]["anchor"] == {
        "seq": previous.seq, "public_hash": previous.public_hash, "hash": previous.hash
    }  # fmt: skip
    assert set(lines[2]) == {"type", "seq", "digest", "public_hash", "hash"}
    assert before.seq < mine.seq


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
    export(client, personas["auditor"], fmt, action="item.*", since="2026-01-01")
    event = AuditEvent.objects.get(action="audit.export")
    assert event.actor_name == "auditor" and event.actor_kind == "user"
    assert event.project_id == project.pk
    assert event.data == {
        "format": fmt, "filter": {"action": "item.*", "since": "2026-01-01"},
        "projects": [project.pk],
    }  # fmt: skip


def test_the_export_reads_in_words_in_the_change_log(client, personas, events, project):
    from release_portal.audit import registry

    export(client, personas["auditor"], "jsonl", action="item.*", since="2026-01-01")
    export(client, personas["auditor"], "csv")
    filtered, whole = AuditEvent.objects.filter(action="audit.export").order_by("seq")
    assert registry.phrase_for(filtered) == "exported the change log as JSON Lines"
    assert registry.detail_for(filtered) == "only events item.*, from 2026-01-01 UTC"
    assert registry.phrase_for(whole) == "exported the change log as CSV"
    assert registry.detail_for(whole) == "every event"
    page = client.get(reverse("audit_log")).content.decode()
    assert "exported the change log as JSON Lines" in page
    assert "only events item.*, from 2026-01-01 UTC" in page


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
    assert last["seq"] == late.seq - 1 and last["type"] == "checkpoint"
