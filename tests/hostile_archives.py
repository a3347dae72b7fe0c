"""Archives built to exhaust whoever unpacks them, made without holding them unpacked.

Each builder streams what it writes through a compressor, so the test itself never holds
the hundreds of megabytes the archive unpacks to; the result is the small archive. gzip
streams may be several members back to back (gzip readers take them as one stream), so a
megabyte compressed once is repeated as it is.
"""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
import zipfile

MB = 1024 * 1024
MIGRATION = "supabase/migrations/20250101000000_x.sql"


def _header(name: str, kind: bytes, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    info.mode = 0o644
    return info.tobuf(format=tarfile.GNU_FORMAT)


def _padding(size: int) -> bytes:
    return b"\x00" * (-size % tarfile.BLOCKSIZE)


def _file(name: bytes | str, data: bytes) -> bytes:
    if isinstance(name, bytes):  # raw bytes, not necessarily UTF-8
        name = name.decode("utf-8", errors="surrogateescape")
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape") + data + _padding(len(data))


def _gz(part: bytes) -> bytes:
    return gzip.compress(part, compresslevel=9, mtime=0)


def _end() -> bytes:
    return _gz(b"\x00" * 2 * tarfile.BLOCKSIZE)


def pax_header_bomb(size: int = 300 * MB) -> bytes:
    """A tar.gz whose first entry is a PAX header of ``size`` bytes, then a migration."""
    prefix = f"{size} comment=".encode()
    body = size - len(prefix) - 1
    parts = [_gz(_header("././@PaxHeader", tarfile.XHDTYPE, size) + prefix)]
    megabyte = _gz(b"a" * MB)
    parts += [megabyte] * (body // MB)
    parts.append(_gz(b"a" * (body % MB) + b"\n" + _padding(size)))
    parts.append(_gz(_file(MIGRATION, b"select 1;\n")))
    parts.append(_end())
    return b"".join(parts)


def long_name_bomb(size: int = 300 * MB) -> bytes:
    """A tar.gz whose first entry is a GNU long name of ``size`` bytes."""
    parts = [_gz(_header("././@LongLink", tarfile.GNUTYPE_LONGNAME, size))]
    megabyte = _gz(b"a" * MB)
    parts += [megabyte] * (size // MB)
    parts.append(_gz(b"a" * (size % MB) + _padding(size) + _file(MIGRATION, b"select 1;\n")))
    parts.append(_end())
    return b"".join(parts)


def directory_flood(count: int = 1_000_000) -> bytes:
    """A tar.gz of ``count`` directory entries (then a migration)."""
    block = _header("supabase/d/", tarfile.DIRTYPE, 0)
    per_part = 2048
    part = _gz(block * per_part)
    parts = [part] * (count // per_part)
    parts.append(_gz(block * (count % per_part) + _file(MIGRATION, b"select 1;\n")))
    parts.append(_end())
    return b"".join(parts)


def tar_zero_file(size: int = 190 * MB) -> bytes:
    """A tar.gz of one migration of ``size`` zero bytes."""
    parts = [_gz(_header(MIGRATION, tarfile.REGTYPE, size))]
    megabyte = _gz(b"\x00" * MB)
    parts += [megabyte] * (size // MB)
    parts.append(_gz(b"\x00" * (size % MB) + _padding(size)))
    parts.append(_end())
    return b"".join(parts)


def zip_zero_file(size: int = 190 * MB) -> bytes:
    """A zip (deflate) of one migration of ``size`` zero bytes: about 190 KB."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open(MIGRATION, "w") as f,
    ):
        megabyte = b"\x00" * MB
        for _ in range(size // MB):
            f.write(megabyte)
    return out.getvalue()


def zip_flood(count: int = 200_000) -> bytes:
    """A zip of ``count`` empty folder entries, written record by record (zipfile's writer
    would keep an object per entry)."""
    local = struct.Struct("<4s5H3L2H")
    central = struct.Struct("<4s6H3L5H2L")
    out = io.BytesIO()
    offsets = []
    for n in range(count):
        name = f"supabase/{n:x}/".encode()
        offsets.append(out.tell())
        out.write(local.pack(b"PK\x03\x04", 10, 0, 0, 0, 0, 0, 0, 0, len(name), 0) + name)
    start = out.tell()
    for n, offset in enumerate(offsets):
        name = f"supabase/{n:x}/".encode()
        out.write(
            central.pack(b"PK\x01\x02", 20, 10, 0, 0, 0, 0, 0, 0, 0, len(name), 0, 0, 0, 0,
                         0o40755 << 16 | 0x10, offset)
            + name
        )  # fmt: skip
    size = out.tell() - start
    entries = min(count, 0xFFFF)
    out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, entries, entries, size, start, 0))
    return out.getvalue()


def tar_with_name(name: bytes, data: bytes = b"select 1;\n") -> bytes:
    """A tar.gz holding one file whose name is the raw bytes ``name``."""
    return _gz(_file(b"supabase/migrations/00_ok.sql", b"") + _file(name, data)) + _end()


def zip_with_name(name: bytes, *, utf8_flag: bool) -> bytes:
    """A zip holding one file whose name is the raw bytes ``name`` (UTF-8 flag set or not)."""
    out = io.BytesIO()
    placeholder = "n" * len(name) if not utf8_flag else "\u00e9" * (len(name) // 2)
    assert len(placeholder.encode()) == len(name)
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(placeholder, b"select 1;\n")
    return out.getvalue().replace(placeholder.encode(), name)
