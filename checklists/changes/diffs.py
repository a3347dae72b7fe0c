"""What changed between two bundles, line by line (issue 13: show what changed, not only
which file).

The diff is made on the server with difflib from the stored bundles; the template escapes
every line (Django's autoescape). A file's diff is cut after ``MAX_DIFF_LINES`` lines, and
a file over ``MAX_DIFF_BYTES`` or not UTF-8 text is not diffed at all: both link to the
full files instead.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from checklists.bundles import FILE_KINDS, BundleFile, stored_bundle_files
from checklists.models import Bundle, BundleUpload, Release

MAX_DIFF_LINES = 400
MAX_DIFF_BYTES = 512 * 1024


@dataclass
class DiffLine:
    kind: str  # "hunk", "add", "del", "ctx"
    text: str


@dataclass
class FileDiff:
    path: str
    kind: str  # a key of FILE_KINDS
    status: str  # "added", "removed", "changed"
    lines: list[DiffLine] = field(default_factory=list)
    cut: bool = False  # more lines than shown
    not_shown: str = ""  # why no lines are shown (binary, too large)
    old_sha256: str = ""
    new_sha256: str = ""

    @property
    def kind_label(self) -> str:
        return FILE_KINDS.get(self.kind, self.kind)


def _text(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if "\x00" in text else text


def _lines(old: bytes, new: bytes, path: str) -> tuple[list[DiffLine], bool, str]:
    if max(len(old), len(new)) > MAX_DIFF_BYTES:
        return [], False, f"over {MAX_DIFF_BYTES // 1024} KB: download the files to compare"
    old_text, new_text = _text(old), _text(new)
    if old_text is None or new_text is None:
        return [], False, "not UTF-8 text: download the files to compare"
    diff = difflib.unified_diff(
        old_text.splitlines(),
        new_text.splitlines(),
        fromfile=f"a/{path}",
        tofile=f"b/{path}",
        lineterm="",
        n=3,
    )
    out: list[DiffLine] = []
    for number, line in enumerate(diff):
        if number < 2:
            continue  # the ---/+++ header: the page names the files
        if len(out) >= MAX_DIFF_LINES:
            return out, True, ""
        if line.startswith("@@"):
            out.append(DiffLine("hunk", line))
        elif line.startswith("+"):
            out.append(DiffLine("add", line[1:]))
        elif line.startswith("-"):
            out.append(DiffLine("del", line[1:]))
        else:
            out.append(DiffLine("ctx", line[1:]))
    return out, False, ""


def _files(bundle: Bundle | None) -> tuple[dict[str, BundleFile], dict[str, dict[str, Any]]]:
    if bundle is None:
        return {}, {}
    return {f.path: f for f in stored_bundle_files(bundle)}, {f["path"]: f for f in bundle.files}


def bundle_diff(old: Bundle | None, new: Bundle | None) -> list[FileDiff]:
    """Every file that differs between ``old`` and ``new``, in kind then path order."""
    old_files, old_listing = _files(old)
    new_files, new_listing = _files(new)
    out: list[FileDiff] = []
    for path in sorted(old_listing.keys() | new_listing.keys()):
        was, now = old_listing.get(path), new_listing.get(path)
        if was and now and was["sha256"] == now["sha256"]:
            continue
        status = "changed" if was and now else "added" if now else "removed"
        before = old_files[path].data if was else b""
        after = new_files[path].data if now else b""
        lines, cut, not_shown = _lines(before, after, path)
        out.append(
            FileDiff(
                path=path,
                kind=(now or was or {}).get("kind", "script"),
                status=status,
                lines=lines,
                cut=cut,
                not_shown=not_shown,
                old_sha256=was["sha256"] if was else "",
                new_sha256=now["sha256"] if now else "",
            )
        )
    order = list(FILE_KINDS)
    out.sort(key=lambda d: (order.index(d.kind) if d.kind in order else len(order), d.path))
    return out


@dataclass
class Side:
    """One end of a comparison: an upload of the release, or the bundle a sign-off saw."""

    key: str  # "3" (upload number) or "signed"
    label: str
    bundle: Bundle | None


def release_sides(release: Release) -> list[Side]:
    """What the release's content can be compared between: each upload, newest first, and
    the bundle the newest sign-off approved when it is not the current one."""
    sides: list[Side] = []
    uploads = BundleUpload.objects.filter(release=release).select_related("bundle")
    for upload in uploads.order_by("-number"):
        current = " (current)" if upload.bundle_id == release.bundle_id else ""
        sides.append(
            Side(
                key=str(upload.number),
                label=f"upload {upload.number} by {upload.uploaded_by_name or 'unknown'}, "
                f"{upload.uploaded_at:%Y-%m-%d %H:%M} UTC, commit {upload.commit_sha[:8]}{current}",
                bundle=upload.bundle,
            )
        )
    signed = signed_bundle(release)
    if signed is not None:
        sides.append(Side(key="signed", label="as signed off", bundle=signed))
    return sides


def signed_bundle(release: Release) -> Bundle | None:
    """The bundle the newest sign-off approved (its snapshot names it), when it is
    stored for this release."""
    signoff = release.signoffs.order_by("-signed_at").first()
    digest = (signoff.snapshot or {}).get("bundle") if signoff else None
    if not digest:
        return None
    return Bundle.objects.filter(project_id=release.project_id, digest=digest).first()


def release_bundle(release: Release, digest: str) -> Bundle | None:
    """A bundle this release holds or held (an upload of it): what its pages may show."""
    return (
        Bundle.objects.filter(project_id=release.project_id, digest=digest)
        .filter(uploads__release=release)
        .distinct()
        .first()
    )
