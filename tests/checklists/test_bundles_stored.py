"""Every uploaded bundle is kept: immutable, addressed by its files' contents, once per
project, with the release's history of uploads; jobs pin it and it cannot be deleted
while anything names it."""

import io

import pytest
from django.core.management import call_command
from django.db.models import ProtectedError

from checklists.bundles import (
    BundleFile,
    FileRules,
    build_bundle,
    bundle_workspace,
    contents_digest,
    file_listing,
)
from checklists.models import Bundle
from checklists.services.migrations import bundle_store, release_upload_archive
from migrations_ops.jobs.services import job_enqueue
from release_portal.audit.models import AuditEvent
from tests.factories import DEMO_MIGRATIONS, supabase_archive

pytestmark = pytest.mark.django_db

OTHER = {**DEMO_MIGRATIONS, "tests/rls.sql": "select 1;\n"}


def upload(release, files, actor, *, fmt="zip"):
    release_upload_archive(
        release=release, data=supabase_archive(files, fmt=fmt), filename=f"s.{fmt}", actor=actor
    )
    release.refresh_from_db()
    return release.bundle


def test_the_address_is_the_files_contents_not_the_archives_bytes():
    files = [BundleFile("supabase/migrations/1_a.sql", b"select 1;")]
    listing = file_listing(files, FileRules())
    assert contents_digest(listing) == contents_digest(list(reversed(listing)))
    changed = file_listing([BundleFile("supabase/migrations/1_a.sql", b"select 2;")], FileRules())
    assert contents_digest(changed) != contents_digest(listing)
    # The archive's bytes are not the address.
    assert contents_digest(listing) != build_bundle(files)


def test_it_keeps_every_upload_and_stores_the_same_files_once(release, release_engineer):
    first = upload(release, DEMO_MIGRATIONS, release_engineer, fmt="zip")
    second = upload(release, OTHER, release_engineer)
    third = upload(release, DEMO_MIGRATIONS, release_engineer, fmt="tar")  # other archive

    assert third.pk == first.pk
    assert second.pk != first.pk
    assert Bundle.objects.filter(project=release.project).count() == 2
    uploads = list(release.uploads.order_by("number").values_list("number", "bundle_id"))
    assert uploads == [(1, first.pk), (2, second.pk), (3, first.pk)]
    # The first bundle still holds what it held.
    with bundle_workspace(first) as root:
        assert not (root / "supabase/tests/rls.sql").exists()
        assert (
            (root / "supabase/migrations/20250102000000_members.sql")
            .read_text()
            .startswith("create table app.members")
        )


def test_the_listing_names_each_files_kind(release, release_engineer, project):
    project.fixture_files = ["supabase/tests/fixtures/roles.sql"]
    project.seed_files = ["supabase/seed.sql"]
    project.save()
    bundle = upload(
        release,
        {
            **DEMO_MIGRATIONS,
            "tests/fixtures/roles.sql": "create role anon;\n",
            "tests/members_test.sql": "select plan(1);\n",
            "seed.sql": "insert into app.members values (1, 'a');\n",
            "config.toml": 'project_id = "x"\n',
            "scripts/check.sh": "echo ok\n",
        },
        release_engineer,
    )
    kinds = {f["path"]: f["kind"] for f in bundle.files}
    assert kinds == {
        "supabase/migrations/20250101000000_create_app.sql": "migration",
        "supabase/migrations/20250102000000_members.sql": "migration",
        "supabase/rollbacks/20250102000000_members.sql": "down_script",
        "supabase/tests/fixtures/roles.sql": "fixture",
        "supabase/tests/members_test.sql": "rls_test",
        "supabase/seed.sql": "seed",
        "supabase/config.toml": "config",
        "supabase/scripts/check.sh": "script",
    }
    assert all(f["size"] > 0 and len(f["sha256"]) == 64 for f in bundle.files)


def test_a_bundle_named_by_a_release_or_a_job_cannot_be_deleted(release, release_engineer, project):
    first = upload(release, DEMO_MIGRATIONS, release_engineer)
    job = job_enqueue(kind="order", project=project, release=release, created_by=release_engineer)
    assert job.bundle_id == first.pk
    upload(release, OTHER, release_engineer)
    with pytest.raises(ProtectedError):
        first.delete()  # the job (and the upload history) still name it


def test_a_kind_that_pins_no_bundle_leaves_it_empty(release, release_engineer, project):
    upload(release, DEMO_MIGRATIONS, release_engineer)
    job = job_enqueue(kind="secrets", project=project, release=release, created_by=release_engineer)
    assert job.bundle_id is None
    assert job.content_digest == release.content_digest


def test_pruning_removes_only_bundles_nothing_names(
    release, release_engineer, project, django_capture_on_commit_callbacks
):
    named = upload(release, DEMO_MIGRATIONS, release_engineer)
    job = job_enqueue(kind="order", project=project, release=release, created_by=release_engineer)
    pinned_only = upload(release, OTHER, release_engineer)
    orphan = bundle_store(
        project=project, files=[BundleFile("supabase/migrations/1_x.sql", b"select 1;\n")]
    )
    storage = orphan.archive.storage
    out = io.StringIO()

    with django_capture_on_commit_callbacks(execute=True):
        call_command("bundles_prune", stdout=out)

    assert "1 unused bundle(s) removed" in out.getvalue()
    assert set(Bundle.objects.values_list("pk", flat=True)) == {named.pk, pinned_only.pk}
    assert not storage.exists(orphan.archive.name)
    assert storage.exists(named.archive.name)
    assert AuditEvent.objects.get(action="release.bundle_prune").data["bundle"] == orphan.digest
    assert job.bundle_id == named.pk
