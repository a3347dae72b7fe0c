import io
import tarfile
import zipfile

import pytest

from checklists.bundles import BundleError, release_workspace
from checklists.models import ChecklistItem, Evidence
from checklists.services.errors import ChecklistError
from checklists.services.migrations import release_upload_archive
from release_portal.audit.models import AuditEvent
from tests.checklists.conftest import item
from tests.factories import DEMO_MIGRATIONS, supabase_archive


@pytest.mark.parametrize("fmt", ["zip", "tar.gz"])
def test_it_stores_each_migration_file_with_its_hash_and_down_script(
    release, release_engineer, fmt
):
    result = release_upload_archive(
        release=release,
        data=supabase_archive(DEMO_MIGRATIONS, fmt=fmt),
        filename=f"supabase.{fmt}",
        actor=release_engineer,
    )
    files = list(release.migration_files.order_by("version"))
    assert [f.filename for f in files] == [
        "20250101000000_create_app.sql",
        "20250102000000_members.sql",
    ]
    assert files[1].version == "20250102000000"
    assert files[1].name == "members"
    assert files[1].size == len(DEMO_MIGRATIONS["migrations/20250102000000_members.sql"])
    assert len(files[1].sha256) == 64
    assert files[1].down_filename == "20250102000000_members.sql"
    assert "drop table" in files[1].down_sql
    assert files[0].down_sql == ""
    assert result.added == [f.filename for f in files]
    release.refresh_from_db()
    assert release.migrations_source == "upload"
    assert release.migrations_uploaded_by == release_engineer
    assert release.state == "preflight"
    with release_workspace(release) as root:
        assert (
            (root / "supabase/migrations/20250102000000_members.sql")
            .read_text()
            .startswith("create table")
        )
    assert AuditEvent.objects.filter(action="release.migrations").count() == 1


def test_it_lists_files_the_cli_would_skip(release, release_engineer):
    files = dict(DEMO_MIGRATIONS)
    files["migrations/README.md"] = "notes"
    files["migrations/add_column.sql"] = "select 1;"
    result = release_upload_archive(
        release=release, data=supabase_archive(files), filename="s.zip", actor=release_engineer
    )
    assert result.skipped == ["README.md", "add_column.sql"]
    assert release.migration_files.count() == 2


def _tar_with(member: tarfile.TarInfo, data: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.addfile(member, io.BytesIO(data) if data else None)
    return buffer.getvalue()


def _zip_with(name: str, data: bytes = b"select 1;") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def _symlink_tar() -> bytes:
    info = tarfile.TarInfo("supabase/migrations/20250101000000_x.sql")
    info.type = tarfile.SYMTYPE
    info.linkname = "/etc/passwd"
    return _tar_with(info)


def _dotdot_tar() -> bytes:
    data = b"select 1;"
    info = tarfile.TarInfo("supabase/../../etc/cron.d/evil")
    info.size = len(data)
    return _tar_with(info, data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"this is not an archive at all", "not a zip or tar.gz"),
        (b"", "is empty"),
        (_zip_with("../supabase/migrations/20250101000000_x.sql"), "points outside"),
        (_zip_with("/abs/supabase/migrations/20250101000000_x.sql"), "absolute path"),
        (_dotdot_tar(), "points outside"),
        (_symlink_tar(), "link"),
        (_zip_with("other/readme.txt"), "no supabase/ folder"),
        (_zip_with("supabase/migrations/notes.txt"), "no migration files"),
        (_zip_with("supabase/migrations/20250101000000_x.sql", b"\xff\xfe bad"), "not UTF-8"),
        (b"PK\x03\x04" + b"\x00" * 40, "not a zip or tar.gz"),
    ],
)
def test_bad_archives_get_a_clear_message_and_store_nothing(
    release_with_files, release_engineer, data, message
):
    release = release_with_files
    before = list(release.migration_files.values_list("filename", "sha256"))
    events = AuditEvent.objects.count()
    with pytest.raises((BundleError, ChecklistError), match=message):
        release_upload_archive(release=release, data=data, filename="x.zip", actor=release_engineer)
    assert list(release.migration_files.values_list("filename", "sha256")) == before
    assert AuditEvent.objects.count() == events


def test_an_archive_over_50_mb_is_refused_before_reading(release, release_engineer):
    with pytest.raises(BundleError, match="the limit is 50 MB"):
        release_upload_archive(
            release=release,
            data=b"x" * (50 * 1024 * 1024 + 1),
            filename="big.zip",
            actor=release_engineer,
        )
    assert release.migration_files.count() == 0


def test_changed_migrations_make_evidence_based_items_stale(release_with_files, release_engineer):
    release = release_with_files
    order = item(release, "confirm-supabase-migrations-order-chronological")
    Evidence.objects.create(
        item=order, kind="job", status="passed", digest=release.content_digest, summary="ok"
    )
    ChecklistItem.objects.filter(pk=order.pk).update(state="done", done_by=release_engineer)
    manual = item(release, "manual-supabase-backup-captured-logged")
    ChecklistItem.objects.filter(pk=manual.pk).update(state="done")
    files = dict(DEMO_MIGRATIONS)
    files["migrations/20250103000000_more.sql"] = "alter table app.members add column x int;"
    result = release_upload_archive(
        release=release, data=supabase_archive(files), filename="s.zip", actor=release_engineer
    )
    assert result.added == ["20250103000000_more.sql"]
    assert result.refresh.stale_items == 1
    assert item(release, "confirm-supabase-migrations-order-chronological").state == "stale"
    # An item with no evidence tied to the files stays done.
    assert item(release, "manual-supabase-backup-captured-logged").state == "done"
    assert AuditEvent.objects.filter(action="item.stale").count() == 1


def test_the_same_upload_again_changes_nothing(release_with_files, release_engineer):
    release = release_with_files
    digest = release.digest
    result = release_upload_archive(
        release=release,
        data=supabase_archive(DEMO_MIGRATIONS),
        filename="s.zip",
        actor=release_engineer,
    )
    assert not result.changed_anything
    release.refresh_from_db()
    assert release.digest == digest


def test_moving_to_a_new_commit_changes_the_content_digest(release_with_files, release_engineer):
    release = release_with_files
    before = release.content_digest
    release_upload_archive(
        release=release,
        data=supabase_archive(DEMO_MIGRATIONS),
        filename="s.zip",
        actor=release_engineer,
        commit_sha="b" * 40,
    )
    release.refresh_from_db()
    assert release.commit_sha == "b" * 40
    assert release.content_digest != before
