"""Reading an untrusted zip or tar archive without letting it decide how much memory or
CPU that takes.

Every limit is checked before the work it bounds, and every refusal names the limit:

- **Entries**: every member counts (files, folders, links, and tar's metadata headers:
  PAX headers and GNU long names), at most MAX_ENTRIES. A tar's are counted as each
  512-byte header is read, before anything else is done with it; a zip's are counted in
  its central directory before zipfile parses it.
- **Metadata headers** (PAX records, GNU long names) are at most MAX_HEADER_BYTES each,
  checked on the header's declared size before its content is read.
- **Compression ratio**: an archive may unpack to at most MAX_COMPRESSION_RATIO times its
  own size (and RATIO_FREE_BYTES whatever its size), and to MAX_UNPACKED_BYTES in all.
  A zip's entries are checked on the sizes its directory declares (zipfile never reads
  past a declared size); a tar is read through a decompressed stream that refuses to
  give out more than that budget.
- **Names** must be UTF-8.

Tar is read by a small reader of its own (headers parsed by tarfile's public
``TarInfo.frombuf``), not by ``tarfile.TarFile``: that keeps every member in a list,
reads a metadata header whole whatever its size, and its PAX parsing has had
backtracking and infinite-loop bugs. Sparse files, links and devices are refused.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO

from migrations_ops.pg.sizes import size_text

MAX_UNPACKED_BYTES = 200 * 1024 * 1024
MAX_ENTRIES = 20_000
MAX_HEADER_BYTES = 64 * 1024
MAX_COMPRESSION_RATIO = 100
RATIO_FREE_BYTES = 10 * 1024 * 1024
# A tar stream holds a 512-byte header and padding per entry on top of the file data.
_TAR_OVERHEAD_BYTES = MAX_ENTRIES * 1024 + 2 * MAX_HEADER_BYTES

_BLOCK = tarfile.BLOCKSIZE
_PAX_TYPES = frozenset({tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE})
_LONG_NAME_TYPES = frozenset({tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK})
_FILE_TYPES = frozenset({tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE})
_LINK_TYPES = frozenset({tarfile.SYMTYPE, tarfile.LNKTYPE})
_ZIP_METHODS = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
)


class BundleError(ValueError):
    """The archive or checkout cannot be used; the message says why and what to do."""


class ArchiveUnreadable(BundleError):
    """The bytes are not a zip or tar archive, or a damaged one."""


def not_utf8(raw: bytes) -> BundleError:
    shown = raw.decode("utf-8", errors="backslashreplace")
    return BundleError(
        f"the archive entry name '{shown}' is not UTF-8 text: rename the file (names must "
        "be UTF-8) and pack the folder again; nothing was stored"
    )


def too_many_entries() -> BundleError:
    return BundleError(
        f"the archive holds more than {MAX_ENTRIES:,} entries (files, folders and "
        "metadata headers all count): upload only the supabase/ folder; nothing was stored"
    )


def _budget(compressed: int) -> int:
    """What an archive of ``compressed`` bytes may unpack to."""
    return min(MAX_UNPACKED_BYTES, max(RATIO_FREE_BYTES, compressed * MAX_COMPRESSION_RATIO))


def _over_budget(label: str, compressed: int, budget: int) -> BundleError:
    if budget < MAX_UNPACKED_BYTES:
        return BundleError(
            f"{label} would unpack to more than {size_text(budget)} from {size_text(compressed)}: "
            f"more than {MAX_COMPRESSION_RATIO} times its own size (the limit), which no "
            "supabase/ folder compresses to. Upload the folder itself, zipped or tarred "
            "without such padding; nothing was stored"
        )
    return BundleError(
        f"{label} unpacks to more than {size_text(MAX_UNPACKED_BYTES)} (the limit): upload "
        "only the supabase/ folder; nothing was stored"
    )


# --- zip ---------------------------------------------------------------------------------

_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_CENTRAL = b"PK\x01\x02"
_EOCD_SIZE = 22
_EOCD64_LOCATOR_SIZE = 20
_EOCD64_SIZE = 56
_CENTRAL_SIZE = 46


def _zip_entry_count(data: bytes) -> int:
    """The entries of the zip's central directory, counted without parsing them (and
    refused past MAX_ENTRIES): zipfile would build an object for every one first."""
    end = data.rfind(_EOCD, max(0, len(data) - _EOCD_SIZE - 0xFFFF))
    if end < 0:
        return 0  # zipfile says what is wrong
    (cd_size,) = struct.unpack_from("<L", data, end + 12)
    cd_end = end
    locator = end - _EOCD64_LOCATOR_SIZE
    if locator >= 0 and data[locator : locator + 4] == _EOCD64_LOCATOR:
        # Zip64: the sizes are in the record just before the locator (as zipfile reads it).
        record = locator - _EOCD64_SIZE
        if record < 0:
            return 0
        (cd_size,) = struct.unpack_from("<Q", data, record + 40)
        cd_end = record
    position, count = cd_end - cd_size, 0
    if position < 0:
        return 0
    while position + _CENTRAL_SIZE <= cd_end and data[position : position + 4] == _CENTRAL:
        name, extra, comment = struct.unpack_from("<3H", data, position + 28)
        position += _CENTRAL_SIZE + name + extra + comment
        count += 1
        if count > MAX_ENTRIES:
            raise too_many_entries()
    return count


def _zip_name(info: zipfile.ZipInfo) -> str:
    """The entry's name as UTF-8 text: names without the UTF-8 flag are the raw bytes
    zipfile decoded as cp437, and most tools write UTF-8 there anyway."""
    if info.flag_bits & 0x800:
        return info.orig_filename  # zipfile decoded it as strict UTF-8
    raw = info.orig_filename.encode("cp437")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise not_utf8(raw) from None


def _read_limited(stream: IO[bytes], limit: int, name: str) -> bytes:
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise BundleError(f"{name} is larger than the unpacked limit")
    return data


def zip_files(data: bytes, *, label: str) -> Iterator[tuple[str, bytes]]:
    """(name, content) of each file in the zip ``data``; folders are skipped, links,
    encrypted entries and unknown compression are refused."""
    _zip_entry_count(data)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except UnicodeDecodeError as e:
        # The entry says its name is UTF-8 and it is not.
        raise not_utf8(e.object) from None
    with archive:
        infos = archive.infolist()
        budget = _budget(len(data))
        if sum(info.file_size for info in infos) > budget:
            raise _over_budget(label, len(data), budget)
        for info in infos:
            name = _zip_name(info)
            if info.is_dir():
                continue
            mode = (info.external_attr >> 16) & 0o170000
            if mode == 0o120000:
                raise BundleError(
                    f"the archive entry {name!r} is a symbolic link; "
                    "links are refused, nothing was stored"
                )
            if info.flag_bits & 0x1:
                raise BundleError(
                    f"the archive entry {name!r} is encrypted: upload it without a password"
                )
            if info.compress_type not in _ZIP_METHODS:
                raise BundleError(
                    f"the archive entry {name!r} uses a compression zip cannot read here: "
                    "pack it with `zip -r` (deflate)"
                )
            with archive.open(info) as f:
                yield name, _read_limited(f, info.file_size, name)


# --- tar ---------------------------------------------------------------------------------


class _Budgeted:
    """A (decompressed) stream that refuses to give out more than ``limit`` bytes."""

    def __init__(self, stream: io.BufferedIOBase, limit: int, refusal: BundleError) -> None:
        self._stream = stream
        self._left = limit
        self._refusal = refusal

    def read(self, size: int) -> bytes:
        wanted = size
        parts = []
        while wanted > 0:
            # One byte more than the budget tells "ends exactly here" from "goes on".
            chunk = self._stream.read(min(wanted, self._left + 1, 1024 * 1024))
            if not chunk:
                break
            self._left -= len(chunk)
            if self._left < 0:
                raise self._refusal
            parts.append(chunk)
            wanted -= len(chunk)
        return b"".join(parts)


def _decompressed(data: bytes) -> tuple[io.BufferedIOBase, bool]:
    """The tar stream inside ``data`` and whether it was compressed."""
    raw = io.BytesIO(data)
    if data[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb"), True
    if data[:3] == b"BZh":
        return bz2.BZ2File(raw, mode="rb"), True
    if data[:6] == b"\xfd7zXZ\x00":
        return lzma.LZMAFile(raw, mode="rb"), True
    return raw, False


def _pax_records(raw: bytes) -> dict[str, bytes]:
    """The ``<length> <key>=<value>\\n`` records of a PAX header, parsed strictly."""
    records: dict[str, bytes] = {}
    position = 0
    while position < len(raw):
        space = raw.find(b" ", position, position + 20)
        if space < 0 or not raw[position:space].isdigit():
            if not raw[position:].strip(b"\x00"):
                break  # padding
            raise ArchiveUnreadable("a PAX header of the archive is damaged")
        length = int(raw[position:space])
        record = raw[space + 1 : position + length]
        if length <= space - position or position + length > len(raw) or record[-1:] != b"\n":
            raise ArchiveUnreadable("a PAX header of the archive is damaged")
        key, equals, value = record[:-1].partition(b"=")
        if not equals:
            raise ArchiveUnreadable("a PAX header of the archive is damaged")
        records[key.decode("utf-8", errors="replace")] = value
        position += length
    return records


def _text(raw: bytes) -> str:
    """A name from a tar header: UTF-8, else refused."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise not_utf8(raw) from None


def _checked_name(name: str) -> str:
    # TarInfo.frombuf decodes with surrogateescape: a lone surrogate is a byte that is
    # not UTF-8.
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise not_utf8(name.encode("utf-8", errors="surrogateescape")) from None
    return name


def _padded(size: int) -> int:
    return -(-size // _BLOCK) * _BLOCK


def tar_files(data: bytes, *, label: str, bound_ratio: bool = True) -> Iterator[tuple[str, bytes]]:
    """(name, content) of each file in the (gzip, bzip2, xz or plain) tar ``data``.

    ``bound_ratio=False`` for archives the portal built itself (a bundle already checked
    on its way in may compress far better than the upload it came from).
    """
    stream, compressed = _decompressed(data)
    limit = MAX_UNPACKED_BYTES + _TAR_OVERHEAD_BYTES
    if compressed and bound_ratio:
        limit = min(limit, max(RATIO_FREE_BYTES, len(data) * MAX_COMPRESSION_RATIO))
    tar = _Budgeted(stream, limit, _over_budget(label, len(data), limit))
    try:
        yield from _tar_members(tar, label)
    except (EOFError, OSError, zlib.error, lzma.LZMAError) as e:
        raise ArchiveUnreadable(f"{label} is damaged and cannot be read ({e})") from None


def _tar_members(tar: _Budgeted, label: str) -> Iterator[tuple[str, bytes]]:
    entries = 0
    long_name: str | None = None
    pax: dict[str, bytes] = {}
    while True:
        header = tar.read(_BLOCK)
        if not header or header.count(0) == _BLOCK:
            return  # the end-of-archive blocks (or none, as some writers do)
        entries += 1
        if entries > MAX_ENTRIES:
            raise too_many_entries()
        try:
            info = tarfile.TarInfo.frombuf(header, "utf-8", "surrogateescape")
        except tarfile.HeaderError:
            if entries == 1:
                raise ArchiveUnreadable(
                    f"{label} is not a zip or tar.gz archive: upload the supabase/ folder packed "
                    "with `zip -r supabase.zip supabase` or `tar czf supabase.tgz supabase`"
                ) from None
            raise ArchiveUnreadable(
                f"the archive is damaged after its first {entries - 1} entries"
            ) from None
        if info.size < 0:
            raise ArchiveUnreadable("the archive is damaged (an entry has a negative size)")
        if info.type in _PAX_TYPES or info.type in _LONG_NAME_TYPES:
            if info.size > MAX_HEADER_BYTES:
                what = "PAX" if info.type in _PAX_TYPES else "long-name"
                raise BundleError(
                    f"the archive holds a {what} metadata header of {size_text(info.size)}; the "
                    f"limit is {size_text(MAX_HEADER_BYTES)} (names and attributes never need "
                    "more): pack the supabase/ folder with plain tar; nothing was stored"
                )
            content = tar.read(_padded(info.size))[: info.size]
            if len(content) < info.size:
                raise ArchiveUnreadable("the archive ends inside a metadata header")
            if info.type in _LONG_NAME_TYPES:
                if info.type == tarfile.GNUTYPE_LONGNAME:
                    long_name = _text(content.split(b"\x00", 1)[0])
                continue
            records = _pax_records(content)
            if any(key.startswith("GNU.sparse") for key in records):
                raise BundleError("the archive holds a sparse file; sparse files are refused")
            if info.type != tarfile.XGLTYPE:  # global headers carry nothing we use
                pax = records
            continue
        name = _checked_name(info.name)
        if long_name is not None:
            name = long_name
        if "path" in pax:
            name = _text(pax["path"])
        size = info.size
        if "size" in pax:
            if not pax["size"].isdigit():
                raise ArchiveUnreadable("a PAX header of the archive is damaged")
            size = int(pax["size"])
        long_name, pax = None, {}
        if info.type == tarfile.DIRTYPE:
            continue
        if info.type in _LINK_TYPES:
            raise BundleError(
                f"the archive entry {name!r} is a link; links are refused, nothing was stored"
            )
        if info.type not in _FILE_TYPES:
            raise BundleError(
                f"the archive entry {name!r} is not a regular file; nothing was stored"
            )
        if size > MAX_UNPACKED_BYTES:
            raise BundleError(f"the archive entry {name!r} is too large")
        content = tar.read(_padded(size))[:size]
        if len(content) < size:
            raise ArchiveUnreadable(f"the archive ends inside {name!r}")
        yield name, content
