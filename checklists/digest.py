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
from typing import Any

from checklists.bundles import FILE_KINDS, listing_changes
from checklists.models import ChecklistItem, Evidence, MigrationFile, Release


def _sha(body: Any) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def files_snapshot(files: list[MigrationFile]) -> list[dict[str, str]]:
    return [
        {"filename": f.filename, "sha256": f.sha256, "down_sha256": f.down_sha256}
        for f in sorted(files, key=lambda f: f.filename)
    ]


def items_snapshot(items: list[ChecklistItem]) -> list[dict[str, Any]]:
    """State and evidence of every non-sign-off item, in step order."""
    out = []
    for item in sorted(items, key=lambda i: i.step.position):
        if item.step.is_signoff:
            continue
        evidence = sorted(item.evidence.all(), key=lambda e: e.pk)
        out.append(
            {
                "step": item.step.key,
                "text": item.step.text[:120],
                "state": item.state,
                "evidence": [_evidence_entry(e) for e in evidence],
            }
        )
    return out


def _evidence_entry(e: Evidence) -> dict[str, Any]:
    return {
        "id": e.pk,
        "kind": e.kind,
        "status": e.status,
        "job": e.job_id,
        "url": e.url,
        "file_sha256": e.file_sha256,
        "content": e.digest,
    }


def content_digest(commit_sha: str, files: list[MigrationFile], bundle_digest: str = "") -> str:
    body: dict[str, Any] = {"commit": commit_sha, "files": files_snapshot(files)}
    if bundle_digest:
        body["bundle"] = bundle_digest
    return _sha(body)


def bundle_snapshot(listing: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The bundle's files as a sign-off keeps them: path, kind, sha256."""
    return [{"path": f["path"], "kind": f["kind"], "sha256": f["sha256"]} for f in listing]


def release_snapshot(release: Release) -> dict[str, Any]:
    """Everything the release digest covers, for storing with a sign-off and diffing later."""
    files = list(release.migration_files.all())
    items = list(
        release.items.select_related("step").prefetch_related("evidence").order_by("step__position")
    )
    bundle = release.bundle
    return {
        "commit": release.commit_sha,
        "content_digest": content_digest(
            release.commit_sha, files, bundle.digest if bundle else ""
        ),
        "files": files_snapshot(files),
        "bundle": bundle.digest if bundle else "",
        "bundle_files": bundle_snapshot(bundle.files) if bundle else [],
        "items": items_snapshot(items),
    }


def digest_of_snapshot(snapshot: dict[str, Any]) -> str:
    return _sha({"content": snapshot["content_digest"], "items": snapshot["items"]})


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
