"""Writing change-log events for page and export tests: always through ``audit_record``."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from django.db import connection, transaction

from release_portal.audit.chain import canonical_text
from release_portal.audit.models import AuditEvent
from release_portal.audit.services import Actor, audit_record


def record(
    action: str = "item.tick",
    *,
    project: Any = None,
    release: Any = None,
    actor: str = "nia",
    kind: str = "user",
    data: dict | None = None,
    obj: Any = None,
) -> AuditEvent:
    with transaction.atomic():
        return audit_record(
            actor=Actor(kind, 7 if kind == "user" else None, actor),
            action=action,
            obj=obj,
            project=project,
            release=release,
            data=data,
        )


def disable_append_only_trigger(*, drop_check: bool = True) -> None:
    # What the table's owner could do before tampering (rolled back with the test): turn
    # off the trigger, and drop the constraint that ties the columns to the canonical form.
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        if drop_check:
            cursor.execute(
                "ALTER TABLE audit_auditevent DROP CONSTRAINT audit_canonical_matches_columns"
            )


def rebuild_public_chain_without_the_key(seq: int, data: dict, *, drop_check: bool = False) -> None:
    """What someone with database access but not the key does: change event ``seq``'s
    data and rebuild everything they can: its canonical form and columns (in one UPDATE,
    so the CHECK constraint holds), every digest and public hash, and the head's."""
    disable_append_only_trigger(drop_check=drop_check)
    public = bytes(32)
    with connection.cursor() as cursor:
        for row in AuditEvent.objects.order_by("seq"):
            fields = {f.attname: getattr(row, f.attname) for f in AuditEvent._meta.fields}
            if row.seq == seq:
                fields["data"] = data
            canonical = canonical_text(fields)
            digest = hashlib.sha256(canonical.encode()).digest()
            public = hashlib.sha256(public + digest).digest()
            cursor.execute(
                "UPDATE audit_auditevent SET data = %s, canonical = %s, digest = %s, "
                "public_hash = %s WHERE seq = %s",
                [json.dumps(fields["data"]), canonical, digest.hex(), public.hex(), row.seq],
            )
        cursor.execute("UPDATE audit_auditchainhead SET public_hash = %s", [public.hex()])


@pytest.fixture
def events(project, other_project):
    """Three events in the project, two in another project, one in no project."""
    tick = {"state": {"from": "open", "to": "done"}}
    return {
        "ours": [
            record("member.add", project=project, actor="lead", data={"role": "qa_lead"}),
            record("item.tick", project=project, actor="qa", data=tick),
            record("job.enqueue", project=project, actor="ci-token", kind="token"),
        ],
        "theirs": [
            record("member.add", project=other_project, actor="outsider"),
            record("item.tick", project=other_project, actor="outsider"),
        ],
        "nobody": [record("system.start", actor="portal", kind="system")],
    }  # fmt: skip


@pytest.fixture
def script(tmp_path):
    """scripts/verify_changelog.py copied alone into a folder, for offline checks."""
    from tests.audit.offline import outsider_copy

    return outsider_copy(tmp_path)


@pytest.fixture
def log(project, other_project):
    """Twelve events over two projects, with the data a real log holds."""
    events = []
    for i in range(12):
        events.append(
            record(
                "item.tick" if i % 3 else "job.finish",
                project=project if i % 4 else other_project,
                actor="qa" if i % 2 else "worker w1",
                kind="user" if i % 2 else "system",
                data={
                    "i": i,
                    "note": 'é "quoted" \\ tab\t',
                    "ratio": 0.1 * i,
                    "big": 10**20,
                    "nested": {"b": [1, None, True], "a": "=SUM(A1)"},
                },
            )
        )
    return events
