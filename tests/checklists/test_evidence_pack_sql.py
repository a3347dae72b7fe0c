"""The evidence pack holds the approved SQL itself, not only its hashes (issue 13)."""

import io
import json
import zipfile

import pytest
from django.urls import reverse

from checklists.services.migrations import release_upload_archive
from tests.deploy_fixtures import approve
from tests.factories import DEMO_MIGRATIONS, supabase_archive

pytestmark = pytest.mark.django_db

MEMBERS = "supabase/migrations/20250102000000_members.sql"


def upload(release, files, actor):
    release_upload_archive(
        release=release, data=supabase_archive(files), filename="s.zip", actor=actor
    )
    release.refresh_from_db()


def pack(client, user, release):
    client.force_login(user)
    response = client.get(reverse("release_evidence_pack", args=[release.pk]))
    assert response.status_code == 200
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_it_holds_the_files_the_owner_approved(
    client, release, platform_lead, release_engineer, auditor
):
    upload(release, DEMO_MIGRATIONS, release_engineer)
    approve(release, platform_lead)
    signed_digest = release.bundle.digest
    changed = {**DEMO_MIGRATIONS, "migrations/20250102000000_members.sql": "select 'later';\n"}
    upload(release, changed, release_engineer)

    zipped = pack(client, auditor, release)

    assert (
        zipped.read(f"bundle/{MEMBERS}").decode()
        == DEMO_MIGRATIONS["migrations/20250102000000_members.sql"]
    )
    assert zipped.read("bundle/supabase/rollbacks/20250102000000_members.sql") == (
        b"drop table app.members;\n"
    )
    described = json.loads(zipped.read("bundle.json"))
    assert described["digest"] == signed_digest
    assert described["which"] == "approved by the newest sign-off"
    assert described["current"] is False
    listed = {f["path"]: f for f in described["files"]}
    assert listed[MEMBERS]["kind"] == "migration"
    contents = json.loads(zipped.read("contents.json"))
    assert f"bundle/{MEMBERS}" in {f["name"] for f in contents["files"]}


def test_without_a_signoff_it_holds_the_current_files(
    client, release, release_engineer, platform_lead
):
    upload(release, DEMO_MIGRATIONS, release_engineer)

    zipped = pack(client, platform_lead, release)

    described = json.loads(zipped.read("bundle.json"))
    assert described["which"] == "current (not signed)" and described["current"] is True
    assert zipped.read(f"bundle/{MEMBERS}").decode().startswith("create table app.members")
