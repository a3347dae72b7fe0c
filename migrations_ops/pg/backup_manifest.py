"""The backup manifest: what a backup holds, written beside the dump as ``<file>.manifest.json``.

A manifest lets anyone check and restore a backup without the portal's database: the
dump's sha256 and size, where it came from (target, server and pg_dump versions,
schemas), which migrations were applied (and which were pending) when it was taken, each
table's row count read in the same snapshot as the dump, the database- and role-level
settings that pg_dump leaves out, the SRE's manual Supabase snapshot reference, and, once
restore_check has run, whether the backup restored and matched.

The format is versioned (``format_version``); a reader refuses a newer format rather than
silently dropping fields it does not know.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from psycopg import sql

FORMAT_VERSION = 1
MANIFEST_SUFFIX = ".manifest.json"

DumpFormat = Literal["plain", "custom"]
SettingScope = Literal["database", "role_in_database", "role"]

# Settings whose value is a list that PostgreSQL quotes element by element; pg_dump
# (variable_is_guc_list_quote) re-creates them as one literal per element.
_LIST_SETTINGS = frozenset(
    {
        "local_preload_libraries",
        "search_path",
        "session_preload_libraries",
        "shared_preload_libraries",
        "temp_tablespaces",
        "unix_socket_directories",
    }
)


class ManifestError(Exception):
    """The manifest file is missing, unreadable or of a format this portal can't read."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def manifest_path(dump_path: Path) -> Path:
    """Where the manifest of ``dump_path`` lives: ``<dump file name>.manifest.json``."""
    return dump_path.with_name(dump_path.name + MANIFEST_SUFFIX)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so a reader sees the old or the new file, never half.

    The bytes go to a temporary file in the same folder, are fsynced, renamed over
    ``path``, and the folder is fsynced so the rename survives a crash.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_folder(path.parent)


def fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class ToolInfo:
    path: str
    version: str


@dataclass(frozen=True)
class TableCount:
    """One table of the dumped schemas, as it was in the dump's snapshot."""

    schema: str
    table: str
    rows: int
    rls_enabled: bool = False
    policies: int = 0

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.table}"


def _split_setting_list(value: str) -> list[str]:
    """Split a stored list setting (``"$user", public``) into its unquoted elements."""
    items: list[str] = []
    current: list[str] = []
    quoted = False
    i = 0
    while i < len(value):
        ch = value[i]
        if quoted:
            if ch == '"' and value[i + 1 : i + 2] == '"':
                current.append('"')
                i += 1
            elif ch == '"':
                quoted = False
            else:
                current.append(ch)
        elif ch == '"':
            quoted = True
        elif ch == ",":
            items.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
        i += 1
    last = "".join(current).strip()
    if last or items:
        items.append(last)
    return items


@dataclass(frozen=True)
class Setting:
    """A row of pg_db_role_setting that pg_dump does not write into a schema dump.

    ``database``: ALTER DATABASE <db> SET; ``role_in_database``: ALTER ROLE <role> IN
    DATABASE <db> SET; ``role``: ALTER ROLE <role> SET, which applies to every database of
    the server, so a restore into a scratch database must not re-apply it.
    """

    scope: SettingScope
    role: str | None
    name: str
    value: str

    @property
    def scoped_to_database(self) -> bool:
        return self.scope != "role"

    @property
    def custom(self) -> bool:
        """A dotted name (``app.settings.jwt_secret``), no setting of PostgreSQL's own: where
        Supabase and apps keep secrets."""
        return "." in self.name

    def for_sandbox(self) -> Setting:
        """This setting as a sandbox may hold it: a custom one with an empty value (bundle
        content runs there and may print what it reads), any other as it is."""
        return replace(self, value="") if self.custom else self

    def alter_sql(self, *, database: str) -> sql.Composed:
        """The statement that re-applies this setting to ``database`` (pg_dump's quoting)."""
        if self.scope == "database":
            target = sql.SQL("ALTER DATABASE {}").format(sql.Identifier(database))
        elif self.scope == "role_in_database":
            target = sql.SQL("ALTER ROLE {} IN DATABASE {}").format(
                sql.Identifier(self.role or ""), sql.Identifier(database)
            )
        else:
            target = sql.SQL("ALTER ROLE {}").format(sql.Identifier(self.role or ""))
        value: sql.Composable
        if self.name.lower() in _LIST_SETTINGS:
            value = sql.SQL(", ").join(sql.Literal(v) for v in _split_setting_list(self.value))
        else:
            value = sql.Literal(self.value)
        return sql.SQL("{} SET {} = {}").format(target, sql.Identifier(self.name), value)


@dataclass
class Verification:
    """What restore_check found when it restored the dump into a scratch database."""

    verified_at: datetime
    ok: bool
    summary: str
    # Each: {"problem": "file" | "restore" | "missing table" | "extra table" | "rows" |
    #        "rls" | "policies" | "setting", "table": "app.orders", "expected": ..,
    #        "restored": .., "message": "..."}
    differences: list[dict[str, Any]] = field(default_factory=list)
    restore_tool: ToolInfo | None = None
    duration_s: float = 0.0
    tables_checked: int = 0
    rows_checked: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["verified_at"] = _iso(self.verified_at)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verification:
        tool = data.get("restore_tool")
        return cls(
            verified_at=_parse_time(data["verified_at"]),
            ok=bool(data["ok"]),
            summary=data.get("summary", ""),
            differences=list(data.get("differences", [])),
            restore_tool=ToolInfo(**tool) if tool else None,
            duration_s=float(data.get("duration_s", 0.0)),
            tables_checked=int(data.get("tables_checked", 0)),
            rows_checked=int(data.get("rows_checked", 0)),
        )


@dataclass
class ManifestFile:
    target: str
    server_version: str  # SHOW server_version, e.g. "15.8"
    server_version_num: int  # e.g. 150008
    pg_dump: ToolInfo
    schemas: list[str]
    file: str  # the dump's file name, in the manifest's folder
    format: DumpFormat
    sha256: str
    size: int
    started_at: datetime
    finished_at: datetime
    applied_versions: list[str] = field(default_factory=list)
    # Local migration files not applied on the target (known only when the backup was
    # given the project's supabase/ folder; None means "not known").
    pending_versions: list[str] | None = None
    tables: list[TableCount] = field(default_factory=list)
    settings: list[Setting] = field(default_factory=list)
    # The roles the dump names (owners, grants, policies): server-wide, so in no dump;
    # the server a backup is restored into needs them (empty in manifests before them).
    roles: list[str] = field(default_factory=list)
    # The manual Supabase backup (runbook §5.1 step 1), entered later by the SRE.
    snapshot_ref: str | None = None
    # What the dump leaves out that the backed-up schemas are tied to (a trigger on
    # auth.users calling a function backed up here...), in words.
    left_out: list[str] = field(default_factory=list)
    verification: Verification | None = None
    format_version: int = FORMAT_VERSION

    @property
    def total_rows(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def server_major(self) -> int:
        return self.server_version_num // 10000

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "target": self.target,
            "server_version": self.server_version,
            "server_version_num": self.server_version_num,
            "pg_dump": asdict(self.pg_dump),
            "schemas": list(self.schemas),
            "file": self.file,
            "format": self.format,
            "sha256": self.sha256,
            "size": self.size,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "applied_versions": list(self.applied_versions),
            "pending_versions": (
                None if self.pending_versions is None else list(self.pending_versions)
            ),
            "tables": [asdict(t) for t in self.tables],
            "settings": [asdict(s) for s in self.settings],
            "roles": list(self.roles),
            "snapshot_ref": self.snapshot_ref,
            "left_out": list(self.left_out),
            "verification": self.verification.to_dict() if self.verification else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ManifestFile:
        version = data.get("format_version")
        if not isinstance(version, int):
            raise ManifestError("not a backup manifest: it has no format_version")
        if version > FORMAT_VERSION:
            raise ManifestError(
                f"manifest format {version} is newer than this portal reads "
                f"({FORMAT_VERSION}); upgrade the portal to check this backup"
            )
        try:
            verification = data.get("verification")
            pending = data.get("pending_versions")
            return cls(
                format_version=version,
                target=data["target"],
                server_version=data["server_version"],
                server_version_num=int(data["server_version_num"]),
                pg_dump=ToolInfo(**data["pg_dump"]),
                schemas=list(data["schemas"]),
                file=data["file"],
                format=data["format"],
                sha256=data["sha256"],
                size=int(data["size"]),
                started_at=_parse_time(data["started_at"]),
                finished_at=_parse_time(data["finished_at"]),
                applied_versions=list(data.get("applied_versions", [])),
                pending_versions=None if pending is None else list(pending),
                tables=[TableCount(**t) for t in data.get("tables", [])],
                settings=[Setting(**s) for s in data.get("settings", [])],
                roles=[str(r) for r in data.get("roles", [])],
                snapshot_ref=data.get("snapshot_ref"),
                left_out=list(data.get("left_out", [])),
                verification=Verification.from_dict(verification) if verification else None,
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ManifestError(f"the manifest is incomplete or damaged: {e!r}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> ManifestFile:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ManifestError(f"the manifest is not valid JSON: {e}") from None
        if not isinstance(data, dict):
            raise ManifestError("not a backup manifest: expected a JSON object")
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: Path) -> ManifestFile:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise ManifestError(f"cannot read the manifest {path}: {e.strerror or e}") from None
        try:
            return cls.from_json(text)
        except ManifestError as e:
            raise ManifestError(f"{path}: {e}") from None

    def write(self, path: Path) -> None:
        write_atomically(path, self.to_json().encode("utf-8"))
