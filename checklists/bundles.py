"""Migration bundles: the supabase/ folder a release ships, from an archive or a git commit.

An uploaded archive (zip or tar.gz) is read entry by entry with every path checked before
anything is stored: no absolute paths, no `..`, no links or devices, at most
MAX_ARCHIVE_BYTES in and MAX_UNPACKED_BYTES out. What is kept is the `supabase/` folder,
normalised into a deterministic tar.gz (the "bundle") that the job engine unpacks into a
fresh workspace for every job.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import posixpath
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_ARCHIVE_BYTES = 50 * 1024 * 1024
MAX_UNPACKED_BYTES = 200 * 1024 * 1024
MAX_FILES = 5000


class BundleError(ValueError):
    """The archive or checkout cannot be used; the message says why and what to do."""


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
    return "/".join(parts)


def _supabase_relative(paths: list[str]) -> str:
    """The prefix under which `supabase/` sits: "" or e.g. "repo-main/"."""
    prefixes = set()
    for path in paths:
        parts = path.split("/")
        if "supabase" in parts[:-1]:
            idx = parts.index("supabase")
            prefixes.add("/".join(parts[:idx]))
    if not prefixes:
        if any(p.startswith("migrations/") for p in paths):
            return "<root-is-supabase>"
        raise BundleError(
            "the archive holds no supabase/ folder: upload the project's supabase/ folder "
            "(with supabase/migrations/*.sql) as a zip or tar.gz"
        )
    shortest = min(prefixes, key=len)
    return shortest + "/" if shortest else ""


def _collect(entries: Iterator[tuple[str, bytes]]) -> list[BundleFile]:
    files: dict[str, bytes] = {}
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
        files[name] = data
    prefix = _supabase_relative(list(files))
    kept: list[BundleFile] = []
    for name, data in sorted(files.items()):
        if prefix == "<root-is-supabase>":
            kept.append(BundleFile("supabase/" + name, data))
        elif name.startswith(prefix + "supabase/"):
            kept.append(BundleFile(name[len(prefix) :], data))
    return kept


def _read_limited(stream: io.BufferedIOBase | None, limit: int, name: str) -> bytes:
    if stream is None:
        return b""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise BundleError(f"{name} is larger than the unpacked limit")
    return data


def _zip_entries(data: bytes) -> Iterator[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            mode = (info.external_attr >> 16) & 0o170000
            if mode == 0o120000:
                raise BundleError(
                    f"the archive entry {info.filename!r} is a symbolic link; "
                    "links are refused, nothing was stored"
                )
            if info.file_size > MAX_UNPACKED_BYTES:
                raise BundleError(f"the archive entry {info.filename!r} is too large")
            with archive.open(info) as f:
                yield info.filename, _read_limited(f, MAX_UNPACKED_BYTES, info.filename)  # type: ignore[arg-type]


def _tar_entries(data: bytes) -> Iterator[tuple[str, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        for member in archive:
            if member.isdir():
                continue
            if member.issym() or member.islnk():
                raise BundleError(
                    f"the archive entry {member.name!r} is a link; links are refused, "
                    "nothing was stored"
                )
            if not member.isfile():
                raise BundleError(
                    f"the archive entry {member.name!r} is not a regular file; nothing was stored"
                )
            if member.size > MAX_UNPACKED_BYTES:
                raise BundleError(f"the archive entry {member.name!r} is too large")
            f = archive.extractfile(member)
            yield member.name, _read_limited(f, MAX_UNPACKED_BYTES, member.name)  # type: ignore[arg-type]


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
            return _collect(_zip_entries(data))
        try:
            return _collect(_tar_entries(data))
        except tarfile.ReadError:
            raise BundleError(
                f"{filename} is not a zip or tar.gz archive: upload the supabase/ folder "
                "packed with `zip -r supabase.zip supabase` or `tar czf supabase.tgz supabase`"
            ) from None
    except (zipfile.BadZipFile, EOFError, gzip.BadGzipFile, OSError) as e:
        raise BundleError(f"{filename} is damaged and cannot be read ({e})") from None


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
    return _collect(_tar_entries(result.stdout))


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
    return list(BundleFile(name, data) for name, data in _tar_entries(bundle))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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


@contextlib.contextmanager
def release_workspace(release: Any) -> Iterator[Path]:
    """The release's supabase/ folder unpacked into a fresh temporary repository root.

    Yields the root (``root / "supabase" / "migrations"`` holds the files). Each job gets
    its own copy, so jobs never see each other's leftovers.
    """
    if not release.bundle:
        raise BundleError(
            "this release has no migrations yet: upload its supabase/ folder or read it "
            "from the project's git checkout"
        )
    with release.bundle.open("rb") as f:
        data = f.read()
    if release.bundle_sha256 and sha256_hex(data) != release.bundle_sha256:
        raise BundleError(
            "the stored bundle no longer matches its recorded sha256: upload the migrations again"
        )
    with unpacked(data) as root:
        yield root
