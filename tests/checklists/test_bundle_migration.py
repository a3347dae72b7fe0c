"""Migrations checklists 0005 and migrations_ops 0006: each release's bundle file (until
now overwritten per upload) becomes a stored Bundle, its first upload, and what queued
jobs pin."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile

from checklists.bundles import BundleFile, FileRules, build_bundle, contents_digest, file_listing
from tests.schema_migrations import leaves, migrate

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [
    ("checklists", "0004_deployments_freeze_breakglass"),
    ("migrations_ops", "0005_job_content_digest"),
]
FILES = [
    BundleFile("supabase/migrations/20250101000000_a.sql", b"create schema app;\n"),
    BundleFile("supabase/tests/a_test.sql", b"select 1;\n"),
]


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_existing_bundles_are_kept_as_stored_bundles_and_pinned(django_user_model):
    old = migrate(BEFORE)
    user = django_user_model.objects.create(username="lead")
    Project = old.get_model("migrations_ops", "Project")
    project = Project.objects.create(name="P", slug="p")
    version = old.get_model("checklists", "RunbookVersion").objects.create(
        project=project, number=1, title="R", source="", source_sha256="0" * 64
    )
    Release = old.get_model("checklists", "Release")
    releases = []
    for n in range(2):  # the same files twice: stored once
        release = Release.objects.create(
            project=project, title=f"R{n}", owner_id=user.pk, commit_sha=f"{n}" * 40,
            runbook_version=version, migrations_source="upload",
        )  # fmt: skip
        release.bundle.save(f"r{n}.tar.gz", ContentFile(build_bundle(FILES)))
        releases.append(release)
    Job = old.get_model("migrations_ops", "Job")
    queued = Job.objects.create(project=project, release=releases[0], kind="dry_run")
    done = Job.objects.create(project=project, release=releases[0], kind="order", state="failed")

    new = migrate(leaves("checklists", "migrations_ops"))

    Bundle = new.get_model("checklists", "Bundle")
    bundle = Bundle.objects.get()
    assert bundle.digest == contents_digest(file_listing(FILES, FileRules()))
    assert [f["kind"] for f in bundle.files] == ["migration", "rls_test"]
    NewRelease = new.get_model("checklists", "Release")
    assert {r.bundle_id for r in NewRelease.objects.all()} == {bundle.pk}
    uploads = new.get_model("checklists", "BundleUpload").objects.order_by("release_id")
    assert [(u.number, u.bundle_id, u.uploaded_by_id) for u in uploads] == [
        (1, bundle.pk, None)
    ] * 2
    NewJob = new.get_model("migrations_ops", "Job")
    assert NewJob.objects.get(pk=queued.pk).bundle_id == bundle.pk
    assert NewJob.objects.get(pk=done.pk).bundle_id is None  # it ran on unknown content
