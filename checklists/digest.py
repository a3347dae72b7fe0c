"""The two digests of a release.

- **content digest**: sha256 over the commit SHA, every migration file (name, sha256,
  down script sha256) and the bundle: the digest of every file a job executes or reads
  (migrations, down scripts, RLS tests, fixtures, seeds, the scripts the check commands
  run, config.toml; ``bundles.contents_digest``). It is what jobs and CI reports ran
  against; evidence records it.
- **release digest**: sha256 over the content digest and the state and evidence of every
  checklist item except the sign-off items. It is what a sign-off approves: any change
  to it makes every sign-off stale.

Both are sha256 over a canonical JSON form (sorted keys, no spaces), so anyone can
recompute them from a release report.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from checklists.bundles import FILE_KINDS, listing_changes
from checklists.models import ChecklistItem, MigrationFile, Release


def _sha(body: Any) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def files_snapshot(files: list[MigrationFile]) -> list[dict[str, str]]:
    return [
        {"filename": f.filename, "sha256": f.sha256, "down_sha256": f.down_sha256}
        for f in sorted(files, key=lambda f: f.filename)
    ]


@dataclass(frozen=True)
class Checklist:
    """The checklist as the release digest covers it, read in one query.

    ``items`` is the snapshot's part: the state and evidence of every item but the
    sign-off items, in step order. ``states`` holds every item's (state, is it the
    sign-off step), sign-off items included, so the release's state is derived without
    reading the items again.
    """

    items: list[dict[str, Any]]
    states: list[tuple[str, bool]]


_EVIDENCE_COLUMNS = ("id", "kind", "status", "job", "url", "file_sha256", "content")


def checklist_snapshot(release: Release | int) -> Checklist:
    """The items part of the snapshot: one values() query over the items, their steps and
    their evidence (a row per evidence, or one with no evidence), instead of model
    instances and a prefetch."""
    rows = (
        ChecklistItem.objects.filter(release=release)
        .order_by("step__position", "pk", "evidence__id")
        .values_list(
            "pk", "state", "step__key", "step__text", "step__is_signoff",
            "evidence__id", "evidence__kind", "evidence__status", "evidence__job",
            "evidence__url", "evidence__file_sha256", "evidence__digest",
        )
    )  # fmt: skip
    items: list[dict[str, Any]] = []
    states: list[tuple[str, bool]] = []
    last_pk = None
    for pk, state, key, text, is_signoff, *evidence in rows:
        if pk != last_pk:
            last_pk = pk
            states.append((state, is_signoff))
            if is_signoff:
                continue
            entry: dict[str, Any] = {
                "step": key,
                "text": text[:120],
                "state": state,
                "evidence": [],
            }
            items.append(entry)
        elif is_signoff:
            continue
        if evidence[0] is not None:
            entry["evidence"].append(dict(zip(_EVIDENCE_COLUMNS, evidence, strict=True)))
    return Checklist(items, states)


def content_digest(commit_sha: str, files: list[MigrationFile], bundle_digest: str = "") -> str:
    body: dict[str, Any] = {"commit": commit_sha, "files": files_snapshot(files)}
    if bundle_digest:
        body["bundle"] = bundle_digest
    return _sha(body)


def bundle_snapshot(listing: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The bundle's files as a sign-off keeps them: path, kind, sha256."""
    return [{"path": f["path"], "kind": f["kind"], "sha256": f["sha256"]} for f in listing]


def content_snapshot(release: Release) -> dict[str, Any]:
    """The content part of the snapshot: the commit, the migration files and the bundle's
    files. It changes only with the content digest, so it is kept once per content
    digest (``ReleaseContentSnapshot``), not with every release digest."""
    files = list(release.migration_files.all())
    bundle = release.bundle
    return {
        "commit": release.commit_sha,
        "content_digest": content_digest(
            release.commit_sha, files, bundle.digest if bundle else ""
        ),
        "files": files_snapshot(files),
        "bundle": bundle.digest if bundle else "",
        "bundle_files": bundle_snapshot(bundle.files) if bundle else [],
    }


def release_snapshot(release: Release) -> dict[str, Any]:
    """Everything the release digest covers, for storing with a sign-off and diffing later."""
    return {**content_snapshot(release), "items": checklist_snapshot(release).items}


def release_digest(content: str, items: list[dict[str, Any]]) -> str:
    """The release digest of a content digest and the items part of a snapshot."""
    return _sha({"content": content, "items": items})


def digest_of_snapshot(snapshot: dict[str, Any]) -> str:
    return release_digest(snapshot["content_digest"], snapshot["items"])


def snapshot_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[str]]:
    """What changed between a signed snapshot and now, in words a person reads.

    Always the three keys commit, files and checklist (a list each, maybe empty).
    """
    changes: dict[str, list[str]] = {"commit": [], "files": [], "checklist": []}
    if before.get("commit") != after.get("commit"):
        changes["commit"].append(
            f"commit {str(before.get('commit', ''))[:12]} → {str(after.get('commit', ''))[:12]}"
        )
    old = {f["filename"]: f for f in before.get("files", [])}
    new = {f["filename"]: f for f in after.get("files", [])}
    for name in sorted(new.keys() - old.keys()):
        changes["files"].append(f"added {name}")
    for name in sorted(old.keys() - new.keys()):
        changes["files"].append(f"removed {name}")
    for name in sorted(old.keys() & new.keys()):
        if old[name]["sha256"] != new[name]["sha256"]:
            changes["files"].append(f"changed {name}")
        elif old[name].get("down_sha256") != new[name].get("down_sha256"):
            changes["files"].append(f"changed the down script of {name}")
    if "bundle_files" in before:
        # The other files jobs read, by kind ("RLS tests changed: supabase/tests/x.sql");
        # migration files are named above.
        changes["files"] += [
            line
            for line in listing_changes(before["bundle_files"], after.get("bundle_files", []))
            if not line.startswith(FILE_KINDS["migration"] + " ")
        ]
    old_items = {i["step"]: i for i in before.get("items", [])}
    for item in after.get("items", []):
        was = old_items.get(item["step"])
        if was is None:
            continue
        if was["state"] != item["state"]:
            changes["checklist"].append(f"“{item['text']}”: {was['state']} → {item['state']}")
        elif was["evidence"] != item["evidence"]:
            changes["checklist"].append(f"“{item['text']}”: evidence changed")
    return changes
