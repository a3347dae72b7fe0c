"""The Supabase CLI's file and history rules (migrations_ops.pg.supabase_files)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from migrations_ops.pg import supabase_files as sf
from tests.migrations_ops.supabase_project import target_database

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def _folder(tmp_path: Path, names: list[str]) -> Path:
    folder = tmp_path / "migrations"
    folder.mkdir()
    for name in names:
        (folder / name).write_text("select 1;\n")
    return folder


def _local(*versions: str) -> list[sf.LocalMigration]:
    return [sf.LocalMigration(f"{v}_m.sql", v, "m", Path(f"{v}_m.sql")) for v in versions]


def _remote(*versions: str) -> list[sf.RemoteMigration]:
    return [sf.RemoteMigration(v, "m") for v in versions]


def _codes(findings: list[sf.VersionFinding]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in findings:
        out.setdefault(f.code, []).extend(f.filenames)
    return out


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("20240101120000_create_users.sql", ("20240101120000", "create_users")),
        ("1_x.sql", ("1", "x")),
        ("20240101120000_.sql", ("20240101120000", "")),
        ("20240101_a_b.sql.sql", ("20240101", "a_b.sql")),
        ("20240101120000-create.sql", None),
        ("create_users.sql", None),
        ("20240101120000_create.SQL", None),
        ("20240101120000_create.sql.bak", None),
        ("20240101120000_create.sql\n", None),
        ("README.md", None),
    ],
)
def test_it_parses_filenames_like_the_cli(filename, expected):
    assert sf.parse_filename(filename) == expected


def test_it_lists_files_in_name_order_and_says_why_others_are_skipped(tmp_path):
    folder = _folder(
        tmp_path,
        [
            "20240301000000_c.sql",
            "20240101000000_a.sql",
            "notes.md",
            "add_users.sql",
            "20240201000000_b.sql",
        ],
    )
    (folder / "20240401000000_folder").mkdir()
    (folder / "20240501000000_looks_like_a_file.sql").mkdir()

    files, skipped = sf.list_local_migrations(folder)

    assert [f.filename for f in files] == [
        "20240101000000_a.sql",
        "20240201000000_b.sql",
        "20240301000000_c.sql",
    ]
    assert files[0].version == "20240101000000" and files[0].name == "a"
    reasons = {s.filename: s.code for s in skipped}
    assert reasons == {
        "add_users.sql": sf.SKIP_PATTERN,
        "notes.md": sf.SKIP_PATTERN,
        "20240401000000_folder": sf.SKIP_PATTERN,
        "20240501000000_looks_like_a_file.sql": sf.SKIP_FOLDER,
    }


def test_it_skips_an_old_init_baseline_only_when_it_is_the_first_entry(tmp_path):
    files, skipped = sf.list_local_migrations(
        _folder(tmp_path, ["20211208235959_init.sql", "20220101000000_next.sql"])
    )
    assert [f.filename for f in files] == ["20220101000000_next.sql"]
    assert [(s.filename, s.code) for s in skipped] == [("20211208235959_init.sql", sf.SKIP_INIT)]


def test_it_keeps_an_init_file_from_the_cutoff_on(tmp_path):
    files, skipped = sf.list_local_migrations(_folder(tmp_path, ["20211209000000_init.sql"]))
    assert [f.filename for f in files] == ["20211209000000_init.sql"]
    assert skipped == []


def test_it_keeps_an_old_init_file_that_is_not_the_first_entry(tmp_path):
    # '.gitkeep' sorts before digits, so the CLI's index-0 rule no longer matches the init file.
    files, skipped = sf.list_local_migrations(
        _folder(tmp_path, [".gitkeep", "20200101000000_init.sql"])
    )
    assert [f.filename for f in files] == ["20200101000000_init.sql"]
    assert [s.code for s in skipped] == [sf.SKIP_PATTERN]


def test_it_raises_for_a_missing_folder(tmp_path):
    with pytest.raises(sf.MigrationsFolderMissing, match="no migrations folder"):
        sf.list_local_migrations(tmp_path / "nope")


def test_it_lists_nothing_in_an_empty_folder(tmp_path):
    assert sf.list_local_migrations(_folder(tmp_path, [])) == ([], [])


def test_it_flags_odd_lengths_all_zero_and_impossible_dates():
    files = _local("20240101", "202401011200", "2024010112000", "00000000000000", "20241301000000")
    codes = _codes(sf.check_versions(files, now=NOW))
    assert codes["not_14_digits"] == [
        "20240101_m.sql",
        "202401011200_m.sql",
        "2024010112000_m.sql",
    ]
    assert codes["all_zero"] == ["00000000000000_m.sql"]
    assert codes["impossible_date"] == ["20241301000000_m.sql"]
    assert "duplicate_version" not in codes


def test_it_flags_february_30_and_hour_24():
    codes = _codes(sf.check_versions(_local("20240230000000", "20240101240000"), now=NOW))
    assert codes["impossible_date"] == ["20240230000000_m.sql", "20240101240000_m.sql"]


def test_it_flags_duplicate_versions_with_every_file():
    files = [
        sf.LocalMigration("20240101000000_a.sql", "20240101000000", "a", Path("a")),
        sf.LocalMigration("20240101000000_b.sql", "20240101000000", "b", Path("b")),
    ]
    [finding] = [f for f in sf.check_versions(files, now=NOW) if f.code == "duplicate_version"]
    assert finding.filenames == ("20240101000000_a.sql", "20240101000000_b.sql")
    assert "supabase migration new" in finding.message


def test_it_flags_timestamps_in_the_future():
    codes = _codes(sf.check_versions(_local("20240101000000", "20250601000001"), now=NOW))
    assert codes == {"future_timestamp": ["20250601000001_m.sql"]}


def test_it_accepts_a_clean_14_digit_history():
    assert sf.check_versions(_local("20240101000000", "20240102000000"), now=NOW) == []


def test_it_flags_when_name_order_and_version_order_differ(tmp_path):
    # By name '20210_b' < '2021_a' ('0' < '_'), by version '2021' < '20210'.
    files, _ = sf.list_local_migrations(_folder(tmp_path, ["2021_a.sql", "20210_b.sql"]))
    assert [f.filename for f in files] == ["20210_b.sql", "2021_a.sql"]
    codes = _codes(sf.check_versions(files, now=NOW))
    assert codes["filename_order_differs"] == ["20210_b.sql", "2021_a.sql"]


def test_it_compares_versions_as_strings_like_the_cli():
    # 202402010000 (12 digits, Feb 2024) is numerically smaller than 20240101000000 but
    # larger as a string: the CLI applies it as an ordinary pending file.
    local = _local("20240101000000", "202402010000")
    remote = _remote("20240101000000")

    result = sf.compare(local, remote)

    assert [f.version for f in result.pending] == ["202402010000"]
    assert result.pending_older_than_newest_applied == []
    assert result.cli_refusal() is None
    # Comparing as numbers would wrongly call it older than the newest applied version.
    assert int("202402010000") < int(result.newest_applied or "0")


def test_it_finds_pending_files_older_than_the_newest_applied():
    result = sf.compare(
        _local("20240101000000", "20240115000000", "20240201000000", "20240301000000"),
        _remote("20240101000000", "20240201000000"),
    )
    assert [f.version for f, _ in result.applied] == ["20240101000000", "20240201000000"]
    assert [f.version for f in result.pending_older_than_newest_applied] == ["20240115000000"]
    assert [f.version for f in result.pending] == ["20240301000000"]
    assert result.needs_include_all
    assert "--include-all" in (result.cli_refusal() or "")
    assert result.cli_would_apply() == []
    assert [f.version for f in result.cli_would_apply(include_all=True)] == [
        "20240115000000",
        "20240301000000",
    ]


def test_it_finds_remote_versions_without_a_local_file():
    result = sf.compare(
        _local("20240101000000", "20240301000000"),
        _remote("20240101000000", "20240201000000", "20240401000000"),
    )
    assert [r.version for r in result.remote_only] == ["20240201000000", "20240401000000"]
    refusal = result.cli_refusal(include_all=True) or ""
    assert "migration repair --status reverted 20240201000000 20240401000000" in refusal


def test_it_treats_an_empty_history_as_everything_pending():
    result = sf.compare(_local("20240101000000", "20240102000000"), [])
    assert [f.version for f in result.pending] == ["20240101000000", "20240102000000"]
    assert result.newest_applied is None


def test_it_reads_the_history_the_cli_wrote():
    rows = [
        ("20240201000000", "b", ["create table b ()"]),
        ("20240101000000", "a", ["create table a ()", "select 1"]),
    ]
    with target_database(rows) as url, psycopg.connect(url) as conn:
        history = sf.read_remote_history(conn)
    assert history == [
        sf.RemoteMigration("20240101000000", "a", ("create table a ()", "select 1")),
        sf.RemoteMigration("20240201000000", "b", ("create table b ()",)),
    ]


def test_it_reads_no_history_from_a_target_without_the_schema():
    with target_database(None) as url, psycopg.connect(url) as conn:
        assert sf.read_remote_history(conn) == []


def test_it_reads_a_history_table_from_an_old_cli_with_only_versions():
    ddl = [
        "CREATE SCHEMA supabase_migrations",
        "CREATE TABLE supabase_migrations.schema_migrations (version text NOT NULL PRIMARY KEY)",
    ]
    with target_database([], ddl=ddl) as url, psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO supabase_migrations.schema_migrations VALUES ('20210101000000')")
        history = sf.read_remote_history(conn)
    assert history == [sf.RemoteMigration("20210101000000", "", None)]
