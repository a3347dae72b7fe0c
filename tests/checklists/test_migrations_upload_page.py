"""Uploading the supabase/ folder from the release page: limits and bad names are form
errors the person can act on, never a 500, and an oversized body is refused unread."""

from __future__ import annotations

import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from checklists.bundles import MAX_ARCHIVE_BYTES
from checklists.services.migrations import release_upload_archive
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


def seen_content_on_page(client, release):
    html = client.get(reverse("release_detail", kwargs={"pk": release.pk})).content.decode()
    return re.search(r'name="seen_content" value="([0-9a-f]{64})"', html).group(1)


def test_an_upload_from_a_page_opened_before_another_upload_is_refused(
    client, personas, release_with_files, release_engineer
):
    # Two tabs: the second uploads newer files; the first, still showing the older ones,
    # uploads its archive. Before, it silently put its files back over the newer ones.
    release = release_with_files
    client.force_login(personas["release_engineer"])
    seen = seen_content_on_page(client, release)
    assert seen == release.content_digest
    newer = dict(DEMO_MIGRATIONS, **{"migrations/20250103000000_fix.sql": "select 1;"})
    release_upload_archive(
        release=release, data=supabase_archive(newer), filename="s.zip", actor=personas["qa_lead"]
    )
    release.refresh_from_db()
    bundle, events = release.bundle_id, AuditEvent.objects.count()
    older = SimpleUploadedFile("supabase.zip", supabase_archive(DEMO_MIGRATIONS))
    response = client.post(
        upload_url(release), {"archive": older, "seen_content": seen}, follow=True
    )
    html = response.content.decode()
    qa = personas["qa_lead"].username
    assert (
        f"Nothing was stored: the migrations changed since you opened this page (uploaded by "
        f"{qa} at " in html
    )
    assert "and those files stay: look at them" in html
    release.refresh_from_db()
    assert release.bundle_id == bundle
    assert "20250103000000_fix.sql" in release.migration_files.values_list("filename", flat=True)
    assert AuditEvent.objects.count() == events


def test_an_upload_from_a_current_page_is_stored(client, personas, release):
    client.force_login(personas["release_engineer"])
    seen = seen_content_on_page(client, release)
    assert seen == release.content_digest  # no files yet
    archive = SimpleUploadedFile("supabase.zip", supabase_archive(DEMO_MIGRATIONS))
    client.post(upload_url(release), {"archive": archive, "seen_content": seen})
    release.refresh_from_db()
    assert release.migration_files.count() == 2
    seen = seen_content_on_page(client, release)
    assert seen == release.content_digest
    again = dict(DEMO_MIGRATIONS, **{"migrations/20250103000000_fix.sql": "select 1;"})
    archive = SimpleUploadedFile("supabase.zip", supabase_archive(again))
    client.post(upload_url(release), {"archive": archive, "seen_content": seen})
    assert release.migration_files.count() == 3
