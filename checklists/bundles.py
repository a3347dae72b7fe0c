"""Migration bundles: the supabase/ folder a release ships, from an archive or a git commit.

An uploaded archive (zip or tar.gz) is read entry by entry with every path checked before
anything is stored: no absolute paths, no `..`, no links or devices, names in UTF-8, at
most MAX_ARCHIVE_BYTES in, and what it unpacks to bounded in size, entries and
compression ratio before the work is done (see checklists.archives). What is kept is the
`supabase/` folder,
normalised into a deterministic tar.gz (the "bundle") that the job engine unpacks into a
fresh workspace for every job.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import posixpath
import re
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checklists.archives import MAX_UNPACKED_BYTES, tar_files, zip_files
from checklists.archives import ArchiveUnreadable as ArchiveUnreadable
from checklists.archives import BundleError as BundleError

MAX_ARCHIVE_BYTES = 50 * 1024 * 1024
MAX_FILES = 5000
MAX_NAME_BYTES = 255  # NAME_MAX
MAX_PATH_BYTES = 1024  # well under PATH_MAX, with the workspace's and sandbox's folders


@dataclass(frozen=True)
class BundleFile:
    path: str  # relative to the repository root, always starting with "supabase/"
    data: bytes


def _clean_path(raw: str) -> str:
    """A safe relative POSIX path, or BundleError naming the entry."""
    name = raw.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise BundleError(f"the archive entry {raw!r} has an absolute path; nothing was stored")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise BundleError(
            f"the archive entry {raw!r} points outside the folder (..); nothing was stored"
        )
    if any("\x00" in p for p in parts):
        raise BundleError("an archive entry name holds a NUL byte; nothing was stored")
    clean = "/".join(parts)
    # Every job unpacks the bundle onto a file system (and copies it into its sandbox).
    if any(len(p.encode()) > MAX_NAME_BYTES for p in parts) or len(clean.encode()) > MAX_PATH_BYTES:
        raise BundleError(
            f"the archive entry {clean[:80]!r}... has a name too long for a file system (at "
            f"most {MAX_NAME_BYTES} bytes a part, {MAX_PATH_BYTES} in all); nothing was stored"
        )
    return clean


def _supabase_relative(paths: list[str]) -> str:
    """The prefix under which `supabase/` sits: "" or e.g. "repo-main/".

    The folder holding ``supabase/migrations/`` is the one kept, so a repository's zip
    with ``node_modules/supabase/`` (the CLI's npm package) beside it still works; two
    such folders are refused rather than one picked, since either could be the release's.
    """
    prefixes: set[str] = set()
    with_migrations: set[str] = set()
    for path in paths:
        parts = path.split("/")
        if "supabase" in parts[:-1]:
            idx = parts.index("supabase")
            prefix = "/".join(parts[:idx])
            prefixes.add(prefix)
            # A package's own supabase/ folder (node_modules/...) is never the project's.
            migrations = parts[idx + 1] == "migrations" and len(parts) > idx + 2
            if migrations and "node_modules" not in parts[:idx]:
                with_migrations.add(prefix)
    if not prefixes:
        if any(p.startswith("migrations/") for p in paths):
            return "<root-is-supabase>"
        raise BundleError(
            "the archive holds no supabase/ folder: upload the project's supabase/ folder "
            "(with supabase/migrations/*.sql) as a zip or tar.gz"
        )
    if len(with_migrations) > 1:
        shown = ", ".join(f"{p}/supabase/" if p else "supabase/" for p in sorted(with_migrations))
        raise BundleError(
            f"the archive holds {len(with_migrations)} supabase/ folders with migrations "
            f"({shown}): upload the one of this project alone; nothing was stored"
        )
    # Shortest first, then by name: never by a set's order, which differs between processes.
    chosen = min(with_migrations or prefixes, key=lambda p: (len(p), p))
    return chosen + "/" if chosen else ""


def _twice(path: str) -> BundleError:
    # An unpacker keeps whichever entry came last, without a word.
    return BundleError(
        f"the archive holds {path} more than once (two entries, or names such as "
        "./supabase/… and supabase/… that are the same file): pack the folder again so "
        "each file is in it once; nothing was stored"
    )


def _refuse_file_and_folder(kept: list[BundleFile]) -> None:
    """A name that is both a file and a folder would fail every job unpacking the bundle."""
    paths = {f.path for f in kept}
    for f in kept:
        parts = f.path.split("/")
        for depth in range(2, len(parts)):
            folder = "/".join(parts[:depth])
            if folder in paths:
                raise BundleError(
                    f"the archive holds {folder} both as a file and as a folder (holding "
                    f"{f.path}): rename one of them and pack the folder again; nothing was "
                    "stored"
                )


def _collect(entries: Iterator[tuple[str, bytes]]) -> list[BundleFile]:
    files: dict[str, bytes] = {}
    repeated: set[str] = set()
    total = 0
    for raw_name, data in entries:
        name = _clean_path(raw_name)
        if not name:
            continue
        total += len(data)
        if total > MAX_UNPACKED_BYTES:
            raise BundleError(
                f"the archive unpacks to more than {MAX_UNPACKED_BYTES // (1024 * 1024)} MB; "
                "upload only the supabase/ folder"
            )
        if len(files) >= MAX_FILES:
            raise BundleError(f"the archive holds more than {MAX_FILES} files")
        if name in files:
            repeated.add(name)
        files[name] = data
    prefix = _supabase_relative(list(files))
    kept: list[BundleFile] = []
    for name, data in sorted(files.items()):
        if prefix == "<root-is-supabase>":
            path = "supabase/" + name
        elif name.startswith(prefix + "supabase/"):
            path = name[len(prefix) :]
        else:
            continue
        if name in repeated:
            raise _twice(path)
        kept.append(BundleFile(path, data))
    _refuse_file_and_folder(kept)
    return kept


def nothing_stored(refusal: str) -> str:
    """A refused upload's message for a person: "Nothing was stored: <why and what to do>",
    saying "nothing was stored" once (the archive's refusals end with it for the API)."""
    why = re.sub(r"[;,.]?\s*nothing was stored\.?\Z", "", refusal.strip())
    return f"Nothing was stored: {why}" + ("" if why.endswith(".") else ".")


def read_archive(data: bytes, *, filename: str = "archive") -> list[BundleFile]:
    """The supabase/ files in a zip or tar(.gz) archive, checked; BundleError otherwise."""
    if len(data) > MAX_ARCHIVE_BYTES:
        raise BundleError(
            f"{filename} is {len(data) // (1024 * 1024)} MB; the limit is "
            f"{MAX_ARCHIVE_BYTES // (1024 * 1024)} MB"
        )
    if not data:
        raise BundleError(f"{filename} is empty")
    try:
        if zipfile.is_zipfile(io.BytesIO(data)):
            return _collect(zip_files(data, label=filename))
        return _collect(tar_files(data, label=filename))
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise ArchiveUnreadable(f"{filename} is damaged and cannot be read ({e})") from None


def read_git_commit(repo_path: str | Path, commit_sha: str, supabase_dir: str) -> list[BundleFile]:
    """The supabase/ files of ``repo_path`` at ``commit_sha``, read with `git archive`."""
    repo = Path(repo_path)
    if not (repo / ".git").exists() and not (repo / "HEAD").exists():
        raise BundleError(f"{repo} is not a git checkout: set the project's repository path")
    folder = supabase_dir.strip("/") or "supabase"
    try:
        result = subprocess.run(
            ["git", "-C", str(repo), "archive", "--format=tar", commit_sha, "--", folder],
            capture_output=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BundleError(f"could not read the git checkout: {e}") from None
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip().splitlines()
        detail = message[-1] if message else f"git exited with {result.returncode}"
        raise BundleError(
            f"commit {commit_sha[:12]} has no {folder}/ folder in {repo}, or the commit is "
            f"not there (fetch it first): {detail}"
        )
    # A supabase/ folder kept deeper (e.g. apps/db/supabase) comes out as supabase/...
    return _collect(tar_files(result.stdout, label=f"git archive of {commit_sha[:12]}"))


def build_bundle(files: list[BundleFile]) -> bytes:
    """A deterministic tar.gz of ``files`` (same content, same bytes, same sha256)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for f in sorted(files, key=lambda f: f.path):
            info = tarfile.TarInfo(f.path)
            info.size = len(f.data)
            info.mode = 0o644
            info.mtime = 0
            archive.addfile(info, io.BytesIO(f.data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def bundle_files(bundle: bytes) -> list[BundleFile]:
    """Read back a bundle this module built."""
    return [
        BundleFile(name, data)
        for name, data in tar_files(bundle, label="the bundle", bound_ratio=False)
    ]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# What each file of a bundle is to the jobs that read it, in the words of the stale banner
# ("RLS tests changed: supabase/tests/x.sql"). Anything not named otherwise is a file the
# check commands may run or read (they run in the whole folder).
FILE_KINDS: dict[str, str] = {
    "migration": "Migrations",
    "down_script": "Down scripts",
    "fixture": "Fixtures",
    "seed": "Seeds",
    "rls_test": "RLS tests",
    "config": "config.toml",
    "script": "Scripts and other files",
}


@dataclass(frozen=True)
class FileRules:
    """Where a project keeps each kind of file (its settings), for ``file_kind``."""

    rollbacks_dir: str = "supabase/rollbacks"
    tests_dir: str = "supabase/tests"
    fixture_files: tuple[str, ...] = ()
    seed_files: tuple[str, ...] = ()

    @classmethod
    def of(cls, project: Any) -> FileRules:
        return cls(
            rollbacks_dir=project.rollbacks_dir or "supabase/rollbacks",
            fixture_files=tuple(project.fixture_files or ()),
            seed_files=tuple(project.seed_files or ()),
        )


def _in_supabase(path: str) -> str:
    """``path`` as the bundle names it (supabase/...), from a repository-relative setting."""
    clean = posixpath.normpath(path.strip().lstrip("/"))
    if "supabase/" in clean and not clean.startswith("supabase/"):
        clean = "supabase/" + clean.split("supabase/", 1)[1]
    return clean


def file_kind(path: str, rules: FileRules) -> str:
    """What ``path`` (supabase/...) is to the jobs: a key of FILE_KINDS."""
    folder, _, name = path.rpartition("/")
    if folder == "supabase/migrations" and name.endswith(".sql"):
        return "migration"
    if path in {_in_supabase(f) for f in rules.fixture_files}:
        return "fixture"
    if path in {_in_supabase(f) for f in rules.seed_files} or (
        name.endswith(".sql") and name.startswith("seed")
    ):
        return "seed"
    if path.startswith(_in_supabase(rules.rollbacks_dir).rstrip("/") + "/"):
        return "down_script"
    if path == "supabase/config.toml":
        return "config"
    if path.startswith(_in_supabase(rules.tests_dir).rstrip("/") + "/"):
        return "rls_test"
    return "script"


def file_listing(files: list[BundleFile], rules: FileRules) -> list[dict[str, Any]]:
    """Every file of a bundle: path, kind, sha256 and size, in path order."""
    return [
        {
            "path": f.path,
            "kind": file_kind(f.path, rules),
            "sha256": sha256_hex(f.data),
            "size": len(f.data),
        }
        for f in sorted(files, key=lambda f: f.path)
    ]


def contents_digest(listing: list[dict[str, Any]]) -> str:
    """The address of a bundle: sha256 over its files' paths and contents (not the
    archive's bytes, so the same files give the same digest however they were packed)."""
    body = [[f["path"], f["sha256"]] for f in sorted(listing, key=lambda f: f["path"])]
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


@contextlib.contextmanager
def unpacked(bundle: bytes) -> Iterator[Path]:
    """A temporary repository root holding the bundle's supabase/ folder; removed after."""
    root = Path(tempfile.mkdtemp(prefix="rp_workspace_"))
    try:
        for f in bundle_files(bundle):
            target = root / posixpath.normpath(f.path)
            if root not in target.parents:  # defence in depth: paths were checked on the way in
                raise BundleError(f"refusing to unpack {f.path!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(f.data)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def listing_changes(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[str]:
    """What changed between two bundles' listings, by kind of file, e.g.
    "RLS tests changed: supabase/tests/x.sql" (kinds in FILE_KINDS order)."""
    old = {f["path"]: f for f in before}
    new = {f["path"]: f for f in after}
    grouped: dict[tuple[str, str], list[str]] = {}
    for path in sorted(old.keys() | new.keys()):
        was, now = old.get(path), new.get(path)
        if was and now and was["sha256"] == now["sha256"]:
            continue
        what = "changed" if was and now else "added" if now else "removed"
        kind = (now or was or {}).get("kind", "script")
        grouped.setdefault((kind, what), []).append(path)
    order = list(FILE_KINDS)
    lines = []
    for (kind, what), paths in sorted(
        grouped.items(),
        key=lambda kv: (order.index(kv[0][0]) if kv[0][0] in order else 99, kv[0][1]),
    ):
        label = FILE_KINDS.get(kind, kind)
        shown = ", ".join(paths[:10]) + (f" and {len(paths) - 10} more" if len(paths) > 10 else "")
        lines.append(f"{label} {what}: {shown}")
    return lines


def stored_bundle_bytes(bundle: Any) -> bytes:
    """The archive of a stored ``checklists.models.Bundle``, checked against its sha256."""
    with bundle.archive.open("rb") as f:
        data: bytes = f.read()
    if sha256_hex(data) != bundle.archive_sha256:
        raise BundleError(
            f"the stored bundle {bundle.digest[:12]} no longer matches its recorded sha256: "
            "upload the migrations again"
        )
    return data


def stored_bundle_files(bundle: Any) -> list[BundleFile]:
    return bundle_files(stored_bundle_bytes(bundle))


@contextlib.contextmanager
def bundle_workspace(bundle: Any) -> Iterator[Path]:
    """A stored bundle unpacked into a fresh temporary repository root, removed after.

    Yields the root (``root / "supabase" / "migrations"`` holds the files). Each job gets
    its own copy, so jobs never see each other's leftovers; what is unpacked is checked
    against the bundle's address (the digest of its files' contents).
    """
    data = stored_bundle_bytes(bundle)
    listing = [{"path": f.path, "sha256": sha256_hex(f.data)} for f in bundle_files(data)]
    if contents_digest(listing) != bundle.digest:
        raise BundleError(
            f"the stored bundle {bundle.digest[:12]} does not hold the files it was stored "
            "with: upload the migrations again"
        )
    with unpacked(data) as root:
        yield root


NO_MIGRATIONS = (
    "this release has no migrations yet: upload its supabase/ folder or read it "
    "from the project's git checkout"
)


@contextlib.contextmanager
def release_workspace(release: Any) -> Iterator[Path]:
    """The release's current bundle unpacked (``bundle_workspace``)."""
    if release.bundle_id is None:
        raise BundleError(NO_MIGRATIONS)
    with bundle_workspace(release.bundle) as root:
        yield root
