"""ManifestFile (JSON, versioned, atomic writes) and the backups/CHANGELOG.md renderer."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from migrations_ops.pg.backup_changelog import ChangelogEntry, render_changelog
from migrations_ops.pg.backup_manifest import (
    FORMAT_VERSION,
    ManifestError,
    ManifestFile,
    Setting,
    TableCount,
    ToolInfo,
    Verification,
    manifest_path,
)


def _manifest(**changes) -> ManifestFile:
    values: dict[str, Any] = {
        "target": "production",
        "server_version": "15.8",
        "server_version_num": 150008,
        "pg_dump": ToolInfo(path="/opt/pg/18/bin/pg_dump", version="18.1"),
        "schemas": ["app", "public"],
        "file": "20250301T101500Z_pre_migration.sql",
        "format": "plain",
        "sha256": "ab" * 32,
        "size": 1_572_864,
        "started_at": datetime(2025, 3, 1, 10, 15, 0, 125000, tzinfo=UTC),
        "finished_at": datetime(2025, 3, 1, 10, 15, 42, tzinfo=UTC),
        "applied_versions": ["20250101000000", "20250201000000"],
        "pending_versions": ["20250301000000", "20250302000000"],
        "tables": [
            TableCount("app", "orders", 4000),
            TableCount("public", "profiles", 1000, rls_enabled=True, policies=2),
        ],
        "settings": [
            Setting("database", None, "search_path", '"$user", app, public'),
            Setting("role_in_database", "authenticator", "statement_timeout", "8s"),
            Setting("role", "anon", "statement_timeout", "3s"),
        ],
    }
    values.update(changes)
    return ManifestFile(**values)


def _verified(ok: bool = True) -> Verification:
    return Verification(
        verified_at=datetime(2025, 3, 1, 10, 20, tzinfo=UTC),
        ok=ok,
        summary="x.sql restored" if ok else "app.orders has 3,999 rows, the manifest says 4,000",
        differences=[]
        if ok
        else [{"problem": "rows", "table": "app.orders", "expected": 4000, "restored": 3999}],
        restore_tool=ToolInfo(path="/opt/pg/18/bin/psql", version="18.1"),
        duration_s=3.25,
        tables_checked=2,
        rows_checked=5000,
    )


def test_it_round_trips_through_json(tmp_path):
    manifest = _manifest(
        snapshot_ref="supabase manual backup 2025-03-01 10:14", verification=_verified()
    )
    path = tmp_path / "m.json"
    manifest.write(path)

    loaded = ManifestFile.load(path)

    assert loaded == manifest
    data = json.loads(path.read_text())
    assert data["format_version"] == FORMAT_VERSION
    assert data["started_at"] == "2025-03-01T10:15:00.125Z"
    assert data["tables"][1] == {
        "schema": "public",
        "table": "profiles",
        "rows": 1000,
        "rls_enabled": True,
        "policies": 2,
    }
    assert loaded.total_rows == 5000 and loaded.server_major == 15


def test_it_keeps_unknown_pending_versions_apart_from_none_pending():
    unknown = ManifestFile.from_json(_manifest(pending_versions=None).to_json())
    none = ManifestFile.from_json(_manifest(pending_versions=[]).to_json())
    assert unknown.pending_versions is None
    assert none.pending_versions == []


def test_it_writes_atomically_without_leaving_temporary_files(tmp_path):
    path = tmp_path / manifest_path(tmp_path / "x.sql").name
    _manifest().write(path)
    _manifest(snapshot_ref="later").write(path)
    assert [p.name for p in tmp_path.iterdir()] == ["x.sql.manifest.json"]
    assert ManifestFile.load(path).snapshot_ref == "later"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"format_version": 2}', r"manifest format 2 is newer than this portal reads \(1\)"),
        ("{not json", r"not valid JSON"),
        ('{"target": "x"}', r"no format_version"),
        ('{"format_version": 1, "target": "x"}', r"incomplete or damaged"),
    ],
)
def test_it_refuses_what_it_cannot_read(tmp_path, text, message):
    path = tmp_path / "bad.manifest.json"
    path.write_text(text)
    with pytest.raises(ManifestError, match=message):
        ManifestFile.load(path)


def test_it_rewrites_settings_as_pg_dump_would():
    s = _manifest().settings
    assert s[0].alter_sql(database="rp x").as_string() == (
        "ALTER DATABASE \"rp x\" SET \"search_path\" = '$user', 'app', 'public'"
    )
    assert s[1].alter_sql(database="db").as_string() == (
        'ALTER ROLE "authenticator" IN DATABASE "db" SET "statement_timeout" = \'8s\''
    )
    assert not s[2].scoped_to_database
    custom = Setting("database", None, "app.settings.jwt_exp", "3600")
    assert custom.alter_sql(database="db").as_string() == (
        'ALTER DATABASE "db" SET "app.settings.jwt_exp" = \'3600\''
    )


def test_it_renders_the_changelog_newest_first():
    newest = _manifest(
        file="20250302T090000Z_pre_migration.dump",
        format="custom",
        finished_at=datetime(2025, 3, 2, 9, 0, 5, tzinfo=UTC),
        snapshot_ref="manual | 2025-03-02",
        verification=_verified(ok=False),
    )
    older = _manifest(verification=_verified(), pending_versions=None, applied_versions=[])
    never = _manifest(size=512, pending_versions=[], snapshot_ref=None)

    text = render_changelog(
        [
            ChangelogEntry(newest, release="R-43 Invoices | hotfix"),
            ChangelogEntry(older, release="R-42"),
            ChangelogEntry(never),
        ]
    )

    lines = text.splitlines()
    assert lines[0] == "# Backups"
    rows = [ln for ln in lines if ln.startswith("| 2025-")]
    assert len(rows) == 3
    assert rows[0].startswith("| 2025-03-02 09:00:05 | R-43 Invoices \\| hotfix | production |")
    assert "`20250201000000`" in rows[0]
    assert "`20250301000000`, `20250302000000`" in rows[0]
    assert "`20250302T090000Z_pre_migration.dump` (custom)" in rows[0]
    assert f"`{'ab' * 32}`" in rows[0]
    assert "1.5 MB (1,572,864 bytes)" in rows[0]
    assert "manual \\| 2025-03-02" in rows[0]
    assert "**FAILED** 2025-03-01 10:20" in rows[0] and "(1 difference)" in rows[0]
    assert "| R-42 | production | none | not recorded |" in rows[1]
    assert rows[1].endswith("| not logged | yes, 2025-03-01 10:20 (2 tables, 5,000 rows) |")
    assert "| — |" in rows[2] and "| 512 bytes |" in rows[2] and rows[2].endswith("| not yet |")
    # every row has as many cells as the header
    header = next(ln for ln in lines if ln.startswith("| Taken"))
    assert all(r.replace("\\|", "").count("|") == header.count("|") for r in rows)


def test_it_renders_an_empty_changelog():
    assert "_no backups yet_" in render_changelog([])
