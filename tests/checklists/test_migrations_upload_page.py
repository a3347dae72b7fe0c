"""Uploading the supabase/ folder from the release page: limits and bad names are form
errors the person can act on, never a 500, and an oversized body is refused unread."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from checklists.bundles import MAX_ARCHIVE_BYTES
from release_portal.audit.models import AuditEvent
from tests import hostile_archives as hostile
from tests.factories import DEMO_MIGRATIONS, supabase_archive

MB = 1024 * 1024


class UnreadableBody(io.RawIOBase):
    """A request body that fails the test if anything reads it."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer):
        raise AssertionError("the request body was read")


def upload_url(release):
    return reverse("release_migrations", kwargs={"pk": release.pk})


def post_unread(client, release, size):
    return client.post(
        upload_url(release),
        content_type="multipart/form-data; boundary=xyz",
        CONTENT_LENGTH=str(size),
        **{"wsgi.input": UnreadableBody()},
    )


def test_an_oversized_upload_is_refused_before_its_body_is_read(client, personas, release):
    client.force_login(personas["release_engineer"])
    response = post_unread(client, release, 300 * MB)
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "Nothing was stored: the upload is 300 MB; an archive may be at most 50 MB" in page
    assert release.migration_files.count() == 0


def test_the_size_check_comes_before_the_csrf_check_reads_the_form(personas, release):
    client = Client(enforce_csrf_checks=True)
    client.force_login(personas["release_engineer"])
    assert post_unread(client, release, MAX_ARCHIVE_BYTES + 2 * MB).status_code == 302
    # Within the limit, the CSRF token is still required.
    archive = SimpleUploadedFile("supabase.zip", supabase_archive(DEMO_MIGRATIONS))
    assert client.post(upload_url(release), {"archive": archive}).status_code == 403
    assert release.migration_files.count() == 0


def test_an_outsider_learns_nothing_from_the_size_check(client, personas, release):
    client.force_login(personas["outsider"])
    assert post_unread(client, release, 300 * MB).status_code == 404


@pytest.mark.parametrize(
    ("data", "says"),
    [
        pytest.param(
            hostile.tar_with_name(b"supabase/migrations/20250103000000_caf\xe9.sql"),
            "is not UTF-8 text: rename the file",
            id="not-utf8",
        ),
        pytest.param(hostile.pax_header_bomb(300 * MB), "the limit is 64 KB", id="pax-header"),
        pytest.param(
            hostile.zip_zero_file(50 * MB), "more than 100 times its own size", id="ratio"
        ),
    ],
)
def test_a_refused_archive_is_a_message_on_the_page(client, personas, release, data, says):
    client.force_login(personas["release_engineer"])
    events = AuditEvent.objects.count()
    archive = SimpleUploadedFile("supabase.tgz", data)
    response = client.post(upload_url(release), {"archive": archive}, follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Nothing was stored" in html and says in html
    assert "Traceback" not in html
    assert release.migration_files.count() == 0
    assert AuditEvent.objects.count() == events
