"""A tick reads only the checklist part of the digest, and keeps only that part.

The release digest must come out exactly as a full reading gives it (files, bundle,
every item and its evidence), and the kept snapshots must still tell a stale form what
changed, files included.
"""

from __future__ import annotations

from typing import Any

import pytest

from checklists import digest
from checklists.models import (
    Evidence,
    Release,
    ReleaseContentSnapshot,
    ReleaseDigestSnapshot,
)
from checklists.services.errors import ChangedSinceOpened
from checklists.services.items import evidence_add, item_tick, item_untick
from checklists.services.migrations import release_upload_archive
from checklists.services.state import kept_snapshot, require_seen_digest
from tests.checklists.conftest import item
from tests.factories import DEMO_MIGRATIONS, current_digest, supabase_archive

pytestmark = pytest.mark.django_db

TICKED = "run-pnpm-lint-typecheck-test"


def full_reading(release: Release) -> tuple[str, str]:
    """The content and release digests read from scratch: every file, item and evidence."""
    snapshot = digest.release_snapshot(Release.objects.get(pk=release.pk))
    return snapshot["content_digest"], digest.digest_of_snapshot(snapshot)


def with_evidence(release: Release, user: Any) -> None:
    for key, url in ((TICKED, "https://ci.example/1"), (TICKED, "https://ci.example/2"),
                     ("rls-docker-test-suite-passed", "https://ci.example/3")):  # fmt: skip
        evidence_add(item=item(release, key), actor=user, kind=Evidence.Kind.LINK, url=url,
                     summary="CI run")  # fmt: skip


def test_it_reads_the_checklist_part_as_the_models_hold_it(release_with_files, release_engineer):
    with_evidence(release_with_files, release_engineer)
    expected = []
    for i in release_with_files.items.select_related("step").order_by("step__position"):
        if i.step.is_signoff:
            continue
        expected.append({
            "step": i.step.key, "text": i.step.text[:120], "state": i.state,
            "evidence": [
                {"id": e.pk, "kind": e.kind, "status": e.status, "job": e.job_id, "url": e.url,
                 "file_sha256": e.file_sha256, "content": e.digest}
                for e in i.evidence.order_by("pk")
            ],
        })  # fmt: skip
    checklist = digest.checklist_snapshot(release_with_files)
    assert checklist.items == expected
    assert sum(len(i["evidence"]) for i in checklist.items) >= 3
    # Every item's state, the sign-off step's too.
    assert len(checklist.states) == release_with_files.items.count()
    assert any(is_signoff for _, is_signoff in checklist.states)


def test_a_tick_gives_the_digest_a_full_reading_gives(release_with_files, release_engineer):
    with_evidence(release_with_files, release_engineer)
    before = Release.objects.get(pk=release_with_files.pk)
    item_tick(item=item(release_with_files, TICKED), user=release_engineer)
    after = Release.objects.get(pk=release_with_files.pk)
    assert after.digest != before.digest
    assert after.content_digest == before.content_digest
    assert (after.content_digest, after.digest) == full_reading(after)
    target = item(release_with_files, TICKED)
    item_untick(item=target, user=release_engineer, reason="again")
    again = Release.objects.get(pk=release_with_files.pk)
    assert (again.content_digest, again.digest) == full_reading(again)


def test_a_tick_keeps_the_checklist_and_not_the_files_again(release_with_files, release_engineer):
    # One per content: the empty release's and its files'.
    contents = ReleaseContentSnapshot.objects.filter(release=release_with_files)
    assert contents.count() == 2
    item_tick(item=item(release_with_files, TICKED), user=release_engineer)
    release = Release.objects.get(pk=release_with_files.pk)
    kept = ReleaseDigestSnapshot.objects.get(release=release, digest=release.digest)
    assert set(kept.snapshot) == {"content_digest", "items"}
    assert kept.content_digest == release.content_digest
    # The files are kept once per content digest, not once per tick.
    assert contents.count() == 2
    # Read back, it is the whole snapshot, files and all, as a full reading gives it.
    assert kept_snapshot(release, release.digest) == digest.release_snapshot(release)


def test_a_form_from_before_a_tick_is_told_what_changed(release_with_files, release_engineer):
    seen = current_digest(release_with_files)
    item_tick(item=item(release_with_files, TICKED), user=release_engineer)
    release = Release.objects.get(pk=release_with_files.pk)
    with pytest.raises(ChangedSinceOpened, match="open → done") as refused:
        require_seen_digest(release, seen, doing="signed")
    assert refused.value.changes["files"] == []


def test_a_form_from_before_new_files_is_told_which_files(release_with_files, release_engineer):
    seen = current_digest(release_with_files)
    item_tick(item=item(release_with_files, TICKED), user=release_engineer)
    contents = ReleaseContentSnapshot.objects.filter(release=release_with_files)
    assert contents.count() == 2
    files = dict(DEMO_MIGRATIONS)
    name = sorted(files)[-1]
    files[name] += "\n-- changed\n"
    release_upload_archive(release=release_with_files, data=supabase_archive(files),
                           filename="supabase.zip", actor=release_engineer)  # fmt: skip
    release = Release.objects.get(pk=release_with_files.pk)
    # The new content is kept once; the old one stays for the forms that show it.
    assert contents.count() == 3
    with pytest.raises(ChangedSinceOpened) as refused:
        require_seen_digest(release, seen, doing="signed")
    assert any(name.split("/")[-1] in line for line in refused.value.changes["files"])
