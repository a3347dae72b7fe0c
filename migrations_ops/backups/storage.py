"""Where backup files live: a local folder, or an S3 bucket for workers on several machines.

``BACKUP_STORAGE`` chooses (``local``: ``BACKUP_DIR``; ``s3``: ``BACKUP_S3_BUCKET`` under
``BACKUP_S3_PREFIX``, at ``BACKUP_S3_ENDPOINT_URL`` / ``BACKUP_S3_REGION``, credentials from
the standard AWS variables read by boto3). Keys are ``<project>/<target>/<file>``, the same
in both. A backup row remembers the storage and location it was written to, so rows made
before a change of setting still find their files (``storage_for``).

The worker always writes locally first; with S3 it then uploads the dump and its manifest
and reads each object back to check its sha256 (``publish``), and a restore check
downloads both into a temporary folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from django.conf import settings

from migrations_ops.pg.backup_manifest import write_atomically

CHUNK = 1 << 20


class StorageError(Exception):
    """A storage operation failed; the message says which file and why."""


def key_for(project_slug: str, target_name: str, name: str = "") -> str:
    """``<project>/<target>/<name>``: where a target's backups are kept."""
    parts = [project_slug, target_name] + ([name] if name else [])
    return "/".join(parts)


def _safe_key(key: str) -> str:
    parts = PurePosixPath(key).parts
    if not key or key.startswith("/") or ".." in parts or "\\" in key:
        raise StorageError(f"refusing the storage key {key!r}: not a plain relative path")
    return key


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class BackupStorage(Protocol):
    kind: str

    @property
    def location(self) -> str: ...

    def local_path(self, key: str) -> Path | None: ...
    def publish(self, folder: Path, names: list[str], key_dir: str) -> None: ...
    def fetch(self, key: str, dest: Path) -> None: ...
    def upload(self, path: Path, key: str) -> None: ...
    def stream(self, key: str) -> tuple[Iterator[bytes], int]: ...
    def delete(self, key: str) -> None: ...
    def write_text(self, key: str, text: str) -> None: ...


@dataclass
class LocalStorage:
    """Files under one folder; the worker writes straight into it."""

    root: Path
    kind: str = "local"

    @property
    def location(self) -> str:
        return str(self.root)

    def local_path(self, key: str) -> Path:
        return self.root / _safe_key(key)

    def publish(self, folder: Path, names: list[str], key_dir: str) -> None:
        destination = self.local_path(key_dir)
        if folder.resolve() == destination.resolve():
            return  # written in place
        destination.mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copyfile(folder / name, destination / name)

    def fetch(self, key: str, dest: Path) -> None:
        try:
            shutil.copyfile(self.local_path(key), dest)
        except OSError as e:
            raise StorageError(f"cannot read {self.local_path(key)}: {e.strerror or e}") from None

    def upload(self, path: Path, key: str) -> None:
        target = self.local_path(key)
        if path.resolve() != target.resolve():
            write_atomically(target, path.read_bytes())

    def stream(self, key: str) -> tuple[Iterator[bytes], int]:
        path = self.local_path(key)
        try:
            size = path.stat().st_size
            handle = path.open("rb")
        except OSError as e:
            raise StorageError(f"cannot read {path}: {e.strerror or e}") from None

        def chunks() -> Iterator[bytes]:
            with handle:
                while chunk := handle.read(CHUNK):
                    yield chunk

        return chunks(), size

    def delete(self, key: str) -> None:
        try:
            self.local_path(key).unlink(missing_ok=True)
        except OSError as e:
            raise StorageError(f"cannot delete {self.local_path(key)}: {e.strerror or e}") from None

    def write_text(self, key: str, text: str) -> None:
        path = self.local_path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, text.encode("utf-8"))
        except OSError as e:
            raise StorageError(f"cannot write {path}: {e.strerror or e}") from None


@dataclass
class S3Storage:
    """Objects in one bucket under a prefix, through boto3."""

    bucket: str
    prefix: str = ""
    endpoint_url: str = ""
    region: str = ""
    kind: str = "s3"

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _client(self) -> Any:
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint_url or None, region_name=self.region or None
        )

    def _key(self, key: str) -> str:
        return self.prefix + _safe_key(key)

    def _fail(self, what: str, key: str, e: Exception) -> StorageError:
        return StorageError(f"{what} s3://{self.bucket}/{self._key(key)} failed: {e}")

    def local_path(self, key: str) -> None:
        return None

    def publish(self, folder: Path, names: list[str], key_dir: str) -> None:
        """Upload each file, then read it back and compare sha256; a mismatch removes it."""
        for name in names:
            key = f"{key_dir}/{name}"
            self.upload(folder / name, key)
            expected = sha256_of(folder / name)
            chunks, _size = self.stream(key)
            digest = hashlib.sha256()
            for chunk in chunks:
                digest.update(chunk)
            if digest.hexdigest() != expected:
                with contextlib.suppress(StorageError):
                    self.delete(key)
                raise StorageError(
                    f"s3://{self.bucket}/{self._key(key)} reads back with sha256 "
                    f"{digest.hexdigest()}, not {expected}: the upload was damaged and was "
                    "removed; run the backup again"
                )

    def fetch(self, key: str, dest: Path) -> None:
        try:
            self._client().download_file(self.bucket, self._key(key), str(dest))
        except Exception as e:  # botocore raises many types; all mean "could not"
            raise self._fail("downloading", key, e) from None

    def upload(self, path: Path, key: str) -> None:
        try:
            self._client().upload_file(str(path), self.bucket, self._key(key))
        except Exception as e:
            raise self._fail("uploading to", key, e) from None

    def stream(self, key: str) -> tuple[Iterator[bytes], int]:
        try:
            answer = self._client().get_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as e:
            raise self._fail("reading", key, e) from None
        body = answer["Body"]

        def chunks() -> Iterator[bytes]:
            with contextlib.closing(body):
                yield from body.iter_chunks(CHUNK)

        return chunks(), int(answer.get("ContentLength") or 0)

    def delete(self, key: str) -> None:
        try:
            self._client().delete_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as e:
            raise self._fail("deleting", key, e) from None

    def write_text(self, key: str, text: str) -> None:
        try:
            self._client().put_object(
                Bucket=self.bucket,
                Key=self._key(key),
                Body=text.encode("utf-8"),
                ContentType="text/markdown; charset=utf-8",
            )
        except Exception as e:
            raise self._fail("writing", key, e) from None


def current_storage() -> BackupStorage:
    """The storage new backups go to, from the settings."""
    if settings.BACKUP_STORAGE == "s3":
        return S3Storage(
            bucket=settings.BACKUP_S3_BUCKET,
            prefix=settings.BACKUP_S3_PREFIX,
            endpoint_url=settings.BACKUP_S3_ENDPOINT_URL,
            region=settings.BACKUP_S3_REGION,
        )
    return LocalStorage(Path(settings.BACKUP_DIR))


def storage_for(kind: str, location: str) -> BackupStorage:
    """The storage a backup row was written to (its ``storage`` and ``location``)."""
    if kind == "s3":
        rest = location.removeprefix("s3://")
        bucket, _, prefix = rest.partition("/")
        return S3Storage(
            bucket=bucket,
            prefix=prefix,
            endpoint_url=settings.BACKUP_S3_ENDPOINT_URL,
            region=settings.BACKUP_S3_REGION,
        )
    return LocalStorage(Path(location))
