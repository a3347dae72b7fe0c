"""Uploading a migrations bundle through the API."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from checklists.models import Release
from tests import hostile_archives as hostile
from tests.api.conftest import SHA, url
from tests.factories import DEMO_MIGRATIONS, supabase_archive


def upload_url(release):
    return url(f"/releases/{release.pk}/migrations")


def test_it_takes_a_multipart_upload_and_says_what_changed(api, release):
    archive = SimpleUploadedFile("supabase.zip", supabase_archive(DEMO_MIGRATIONS))
    response = api.client.post(
        upload_url(release), {"file": archive}, headers={"Authorization": f"Bearer {api.value}"}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["added"] == ["20250101000000_create_app.sql", "20250102000000_members.sql"]
    assert body["files"] == 2 and body["stale_signoffs"] == 0
    release.refresh_from_db()
    assert release.migrations_source == "api"
    assert release.migrations_uploaded_by is None
    assert body["digest"] == release.digest


def test_it_takes_a_raw_tar_gz_and_moves_the_commit(api, release):
    data = supabase_archive(DEMO_MIGRATIONS, fmt="tar.gz")
    response = api.upload(upload_url(release) + "?commit_sha=" + "c" * 40, data, "application/gzip")
    assert response.status_code == 200, response.content
    assert response.json()["commit_sha"] == "c" * 40
    assert Release.objects.get(pk=release.pk).commit_sha == "c" * 40


def test_it_counts_the_signoffs_a_new_upload_makes_stale(api, approved_release):
    files = {**DEMO_MIGRATIONS, "migrations/20250103000000_more.sql": "select 1;\n"}
    response = api.upload(upload_url(approved_release), supabase_archive(files), "application/zip")
    # An approved release is still open for changes: the new file makes its sign-off stale.
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["added"] == ["20250103000000_more.sql"]
    assert body["stale_signoffs"] == 1
    assert body["stale_items"] == 8  # the items ticked on evidence for the old files
    assert body["state"] == "preflight"


def test_it_refuses_a_damaged_archive_and_stores_nothing(api, release):
    response = api.upload(upload_url(release), b"PK\x03\x04 not really a zip", "application/zip")
    assert response.status_code == 400
    assert "archive" in response.json()["error"]
    assert not release.migration_files.exists()


def test_it_refuses_an_archive_without_migrations(api, release):
    response = api.upload(
        upload_url(release), supabase_archive({"seed.sql": "select 1;"}), "application/zip"
    )
    assert response.status_code == 422
    assert "no migration files" in response.json()["error"]


def test_it_refuses_other_content_types(api, release):
    response = api.upload(upload_url(release), b"{}", "text/plain")
    assert response.status_code == 415


def test_it_refuses_uploads_over_the_limit_before_reading_them(api, release, settings):
    settings.API_MAX_UPLOAD_BYTES = 100
    response = api.upload(upload_url(release), supabase_archive(DEMO_MIGRATIONS), "application/zip")
    assert response.status_code == 413
    assert response.json()["detail"] == {"limit": 100}
    assert not release.migration_files.exists()


@pytest.mark.parametrize("scopes", [("read",), ("deploy",), ("read", "deploy")])
def test_it_needs_the_report_scope_to_upload(api_for, release, scopes):
    response = api_for(*scopes).upload(
        upload_url(release), supabase_archive(DEMO_MIGRATIONS), "application/zip"
    )
    assert response.status_code == 403
    assert not release.migration_files.exists()


def test_it_refuses_to_change_a_deploying_release(api, approved_release, targets):
    start = api.post(url(f"/releases/{approved_release.pk}/deployments"), {
        "target": "production", "status": "started", "digest": approved_release.digest,
    })  # fmt: skip
    assert start.status_code == 201
    response = api.upload(
        upload_url(approved_release), supabase_archive(DEMO_MIGRATIONS), "application/zip"
    )
    assert response.status_code == 409
    assert "frozen" in response.json()["error"]
    assert Release.objects.get(pk=approved_release.pk).commit_sha == SHA


def test_a_name_that_is_not_utf8_is_a_clear_422(api, release):
    data = hostile.tar_with_name(b"supabase/migrations/20250103000000_caf\xe9.sql")
    response = api.upload(upload_url(release), data, "application/gzip")
    assert response.status_code == 422
    error = response.json()["error"]
    assert "20250103000000_caf\\xe9.sql' is not UTF-8 text: rename the file" in error
    assert not release.migration_files.exists()


def test_a_flagged_utf8_zip_name_that_is_not_utf8_is_a_clear_422(api, release):
    name = b"supabase/migrations/20250103000000_caf\xe9\xe9.sql"
    response = api.upload(
        upload_url(release), hostile.zip_with_name(name, utf8_flag=True), "application/zip"
    )
    assert response.status_code == 422
    assert "is not UTF-8 text" in response.json()["error"]


def test_an_archive_over_a_limit_is_a_422_naming_the_limit(api, release):
    response = api.upload(upload_url(release), hostile.pax_header_bomb(), "application/gzip")
    assert response.status_code == 422
    assert "PAX metadata header of 300 MB; the limit is 64 KB" in response.json()["error"]
    assert not release.migration_files.exists()
