"""What an uploaded archive holds, file by file: an archive that says two things about one
file, or holds two projects' supabase/ folders, is refused with what to do, and the
release keeps the bundle it had; files the Supabase CLI would not read are named."""

from __future__ import annotations

import io
import tarfile
import warnings
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from checklists.bundles import BundleError, read_archive
from checklists.services.errors import ChecklistError
from checklists.services.migrations import release_upload_archive
from release_portal.audit.models import AuditEvent
from tests import hostile_archives as hostile
from tests.factories import DEMO_MIGRATIONS

MEMBERS = "supabase/migrations/20250102000000_members.sql"


def demo_entries(prefix: str = "") -> list[tuple[str, str]]:
    return [(f"{prefix}supabase/{name}", text) for name, text in DEMO_MIGRATIONS.items()]


def zip_of(entries: list[tuple[str, str]]) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of a duplicate name: that is the point
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, text in entries:
                archive.writestr(name, text)
    return buffer.getvalue()


def tar_of(entries: list[tuple[str, str]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in entries:
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def refused_and_unchanged(release, actor, data: bytes, says: str) -> None:
    """The upload is refused saying ``says``; the release keeps its files and bundle."""
    bundle, digest = release.bundle_id, release.content_digest
    files = list(release.migration_files.values_list("filename", "sha256"))
    events = AuditEvent.objects.count()
    with pytest.raises((BundleError, ChecklistError), match=says):
        release_upload_archive(release=release, data=data, filename="x.zip", actor=actor)
    release.refresh_from_db()
    assert (release.bundle_id, release.content_digest) == (bundle, digest)
    assert list(release.migration_files.values_list("filename", "sha256")) == files
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(zip_of([*demo_entries(), (MEMBERS, "drop table app.members;")]), id="zip"),
        pytest.param(tar_of([*demo_entries(), (MEMBERS, "drop table app.members;")]), id="tar"),
        pytest.param(zip_of([*demo_entries(), (f"./{MEMBERS}", "select 2;")]), id="dot-slash"),
    ],
)
def test_two_entries_for_one_file_are_refused_naming_it(release_with_files, release_engineer, data):
    # Before: the last entry won without a word, so what reviewers saw in `unzip -l` (two
    # files) was not what ran.
    refused_and_unchanged(
        release_with_files,
        release_engineer,
        data,
        f"holds {MEMBERS} more than once .*pack the folder again so each file is in it once",
    )


def test_a_name_both_file_and_folder_is_refused(release_with_files, release_engineer):
    # Before: stored, then every job failed unpacking it ("File exists" with a server path).
    data = zip_of([*demo_entries(), (f"{MEMBERS}/notes.sql", "select 1;")])
    refused_and_unchanged(
        release_with_files,
        release_engineer,
        data,
        f"holds {MEMBERS} both as a file and as a folder .*rename one of them",
    )


def test_two_supabase_folders_with_migrations_are_refused_naming_both(
    release_with_files, release_engineer
):
    # Before: one of the two was kept, chosen by a set's order, which differs between
    # processes: the same archive could store either project's migrations.
    other = ("b/supabase/migrations/20250301000000_other.sql", "create table other();")
    data = zip_of([*demo_entries("a/"), other])
    refused_and_unchanged(
        release_with_files,
        release_engineer,
        data,
        r"holds 2 supabase/ folders with migrations \(a/supabase/, b/supabase/\): upload the "
        "one of this project alone",
    )


def test_the_supabase_folder_with_migrations_is_kept_beside_the_clis_npm_package():
    entries = [
        *demo_entries("repo/"),
        ("repo/node_modules/supabase/package.json", "{}"),
        ("repo/node_modules/some-kit/supabase/migrations/20240101000000_kit.sql", "select 1;"),
    ]
    files = read_archive(zip_of(entries), filename="repo.zip")
    assert sorted(f.path for f in files) == sorted(f"supabase/{n}" for n in DEMO_MIGRATIONS)


def test_a_folder_inside_migrations_is_named_among_the_files_the_cli_skips(
    release, release_engineer
):
    entries = [*demo_entries(), ("supabase/migrations/2025/20250301000000_x.sql", "select 1;")]
    result = release_upload_archive(
        release=release, data=zip_of(entries), filename="s.zip", actor=release_engineer
    )
    assert result.skipped == ["2025/"]
    assert release.migration_files.count() == 2


def test_migrations_only_in_a_folder_are_refused_saying_where_they_must_be(
    release_with_files, release_engineer
):
    entries = [
        (f"supabase/migrations/old/{name.rsplit('/', 1)[-1]}", text)
        for name, text in DEMO_MIGRATIONS.items()
        if name.startswith("migrations/")
    ]
    refused_and_unchanged(
        release_with_files,
        release_engineer,
        zip_of(entries),
        "no migration files found: the Supabase CLI applies the files named "
        r"<version>_<name>.sql \(e.g. 20250101000000_create_app.sql\) directly in "
        "supabase/migrations; it would skip old/",
    )


def test_the_page_says_nothing_was_stored_once(client, personas, release_with_files):
    client.force_login(personas["release_engineer"])
    data = hostile.zip_zero_file(50 * 1024 * 1024)
    url = reverse("release_migrations", kwargs={"pk": release_with_files.pk})
    response = client.post(url, {"archive": SimpleUploadedFile("bomb.zip", data)}, follow=True)
    html = response.content.decode()
    assert "Nothing was stored: bomb.zip would unpack to more than" in html
    assert html.lower().count("nothing was stored") == 1


def test_two_files_of_one_version_are_stored_with_a_warning_on_the_page(client, personas, release):
    # The CLI fails on the second file's history row; before, the upload said only
    # "Migrations stored" and the pre-flight was the first to tell.
    client.force_login(personas["release_engineer"])
    entries = [
        *demo_entries(),
        ("supabase/migrations/20250301000000_a.sql", "create table a();"),
        ("supabase/migrations/20250301000000_b.sql", "create table b();"),
    ]
    url = reverse("release_migrations", kwargs={"pk": release.pk})
    response = client.post(
        url, {"archive": SimpleUploadedFile("s.zip", zip_of(entries))}, follow=True
    )
    html = response.content.decode()
    assert "Migrations stored (4 added, 0 removed, 0 changed)." in html
    assert (
        "The Supabase CLI would fail on these files: version 20250301000000 is used by 2 "
        "files (20250301000000_a.sql, 20250301000000_b.sql): the history table keeps one row "
        "per version, so the CLI fails on the second; give each file its own timestamp "
        "(supabase migration new)." in html
    )
    assert release.migration_files.count() == 4


def test_the_page_names_the_files_the_cli_would_skip_and_why(client, personas, release):
    client.force_login(personas["release_engineer"])
    entries = [
        *demo_entries(),
        ("supabase/migrations/add_things.sql", "select 1;"),
        ("supabase/migrations/20250301000000_x.SQL", "select 1;"),
    ]
    url = reverse("release_migrations", kwargs={"pk": release.pk})
    archive = SimpleUploadedFile("s.zip", zip_of(entries))
    html = client.post(url, {"archive": archive}, follow=True).content.decode()
    assert (
        "The Supabase CLI would skip 20250301000000_x.SQL, add_things.sql: it applies only "
        "files named &lt;version&gt;_&lt;name&gt;.sql, directly in supabase/migrations." in html
    )
