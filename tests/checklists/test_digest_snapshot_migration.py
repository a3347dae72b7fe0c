"""Migration checklists 0008: each kept digest snapshot's files move to one content
snapshot per content digest; the digest snapshot keeps its checklist part, and reads
back whole."""

from __future__ import annotations

from typing import Any

import pytest

from tests.schema_migrations import leaves, migrate

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("checklists", "0007_waivers_digest_snapshots_break_glass_confirm")
AFTER = ("checklists", "0008_digest_snapshot_content_part")


def whole(content: str, state: str) -> dict[str, Any]:
    return {
        "commit": "a" * 40,
        "content_digest": content,
        "files": [{"filename": f"{content}.sql", "sha256": "0" * 64, "down_sha256": ""}],
        "bundle": "",
        "bundle_files": [],
        "items": [{"step": "s", "text": "S", "state": state, "evidence": []}],
    }


def around(node):
    """``node`` for checklists, every other app at its newest: the models as they were."""
    return [node, *leaves("migrations_ops")]


def test_snapshots_are_split_once_per_content_and_join_back(django_user_model):
    old = migrate(around(BEFORE))
    try:
        user = django_user_model.objects.create(username="lead")
        project = old.get_model("migrations_ops", "Project").objects.create(name="P", slug="p")
        version = old.get_model("checklists", "RunbookVersion").objects.create(
            project=project, number=1, title="R", source="", source_sha256="0" * 64
        )
        release = old.get_model("checklists", "Release").objects.create(
            project=project, title="R", owner_id=user.pk, commit_sha="a" * 40,
            runbook_version=version,
        )  # fmt: skip
        kept = old.get_model("checklists", "ReleaseDigestSnapshot").objects
        # Two digests of one content (a tick between them), one of another.
        for digest, content, state in (("d1", "c1", "open"), ("d2", "c1", "done"),
                                       ("d3", "c2", "done")):  # fmt: skip
            kept.create(release=release, digest=digest, snapshot=whole(content, state))

        new = migrate(around(AFTER))
        contents = new.get_model("checklists", "ReleaseContentSnapshot").objects
        assert sorted(contents.values_list("content_digest", flat=True)) == ["c1", "c2"]
        assert "items" not in contents.get(content_digest="c1").snapshot
        digests = new.get_model("checklists", "ReleaseDigestSnapshot").objects
        d2 = digests.get(digest="d2")
        assert d2.content_digest == "c1"
        assert d2.snapshot == {"content_digest": "c1", "items": whole("c1", "done")["items"]}

        back = migrate(around(BEFORE))
        rows = back.get_model("checklists", "ReleaseDigestSnapshot").objects
        assert rows.get(digest="d2").snapshot == whole("c1", "done")
        assert rows.get(digest="d3").snapshot == whole("c2", "done")
    finally:
        migrate(leaves("checklists", "migrations_ops"))
