"""Issue 13 case 4: the content digest covers every file a job executes or reads.

Replacing the RLS tests, seeds, fixtures, check scripts or config.toml used to leave the
sign-offs current and the gate open (the digest held only the migration files).
"""

import pytest

from checklists.deployments.gate import gate_status
from checklists.services.migrations import release_upload_archive
from checklists.services.signoffs import signoff_changes
from tests.deploy_fixtures import approve
from tests.factories import DEMO_MIGRATIONS, supabase_archive

pytestmark = pytest.mark.django_db

BASE = {
    **DEMO_MIGRATIONS,
    "tests/members_test.sql": "select plan(1); select ok(true); select * from finish();\n",
    "tests/fixtures/roles.sql": "create role anon nologin;\n",
    "seed.sql": "insert into app.members values (1, 'ada');\n",
    "scripts/check.sh": "#!/bin/sh\necho ok\n",
    "config.toml": 'project_id = "ibimina"\n',
}

# (file under supabase/, what the banner calls it)
REPLACED = [
    ("tests/members_test.sql", "RLS tests changed: supabase/tests/members_test.sql"),
    ("tests/fixtures/roles.sql", "Fixtures changed: supabase/tests/fixtures/roles.sql"),
    ("seed.sql", "Seeds changed: supabase/seed.sql"),
    ("scripts/check.sh", "Scripts and other files changed: supabase/scripts/check.sh"),
    ("config.toml", "config.toml changed: supabase/config.toml"),
]


def upload(release, files, actor):
    release_upload_archive(
        release=release, data=supabase_archive(files), filename="s.zip", actor=actor
    )
    release.refresh_from_db()


@pytest.mark.parametrize(("path", "banner"), REPLACED, ids=[p for p, _ in REPLACED])
def test_replacing_a_file_jobs_read_makes_signoffs_stale_and_closes_the_gate(
    release, project, platform_lead, release_engineer, path, banner
):
    project.fixture_files = ["supabase/tests/fixtures/roles.sql"]
    project.seed_files = ["supabase/seed.sql"]
    project.save()
    upload(release, BASE, release_engineer)
    approve(release, platform_lead)
    assert gate_status(release).open
    before = release.content_digest

    upload(release, {**BASE, path: BASE[path] + "-- replaced\n"}, release_engineer)

    assert release.content_digest != before
    signoff = release.signoffs.get()
    assert not signoff.is_current
    assert signoff.stale_at is not None
    assert not gate_status(release).open
    # The banner says which kind of file changed, and which file.
    assert banner in signoff_changes(signoff)["files"]


def test_the_same_files_uploaded_again_keep_the_signoff(release, platform_lead, release_engineer):
    upload(release, BASE, release_engineer)
    approve(release, platform_lead)
    upload(release, dict(BASE), release_engineer)
    assert release.signoffs.get().is_current
    assert gate_status(release).open
