import pytest

from checklists.services.migrations import release_upload_archive
from checklists.services.releases import release_create
from tests.factories import DEMO_MIGRATIONS, published_runbook, supabase_archive


@pytest.fixture
def runbook(project):
    return published_runbook(project)


@pytest.fixture
def release(project, runbook, platform_lead, release_engineer):
    return release_create(
        project=project,
        title="Members table",
        owner=platform_lead,
        commit_sha="a" * 40,
        created_by=release_engineer,
    )


@pytest.fixture
def release_with_files(release, release_engineer):
    release_upload_archive(
        release=release,
        data=supabase_archive(DEMO_MIGRATIONS),
        filename="supabase.zip",
        actor=release_engineer,
    )
    release.refresh_from_db()
    return release


def item(release, key):
    return release.items.select_related("step", "release").get(step__key=key)
