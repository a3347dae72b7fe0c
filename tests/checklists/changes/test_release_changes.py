"""Show what changed, not only which file: a line diff between two uploads of a release,
or between the bundle a sign-off approved and the current one (issue 13, deliverable 8)."""

import pytest
from django.urls import reverse

from checklists.changes.diffs import MAX_DIFF_LINES
from checklists.services.migrations import release_upload_archive
from checklists.services.releases import release_create
from tests.deploy_fixtures import approve
from tests.factories import DEMO_MIGRATIONS, published_runbook, supabase_archive

pytestmark = pytest.mark.django_db

RLS_TEST = "select plan(1);\nselect ok(true, 'members see themselves');\n"
HOSTILE = "select plan(1);\nselect ok(true, '<script>alert(1)</script>');\n"


def upload(release, files, actor):
    release_upload_archive(
        release=release, data=supabase_archive(files), filename="s.zip", actor=actor
    )
    release.refresh_from_db()


def changes_url(release, query=""):
    return reverse("release_changes", kwargs={"pk": release.pk}) + query


def test_it_shows_the_line_diff_between_two_uploads_escaped(
    client, release, release_engineer, qa_lead
):
    upload(release, {**DEMO_MIGRATIONS, "tests/members_test.sql": RLS_TEST}, release_engineer)
    upload(release, {**DEMO_MIGRATIONS, "tests/members_test.sql": HOSTILE}, release_engineer)
    client.force_login(qa_lead)

    response = client.get(changes_url(release))

    assert response.status_code == 200
    html = response.content.decode()
    assert "supabase/tests/members_test.sql" in html
    assert "RLS tests: changed" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
    assert '<span class="diff-del">select ok(true, &#x27;members see themselves&#x27;);</span>' in (
        html
    )
    # Unchanged files are not listed.
    assert "20250101000000_create_app.sql" not in html


def test_any_two_uploads_can_be_compared(client, release, release_engineer, qa_lead):
    upload(release, DEMO_MIGRATIONS, release_engineer)
    upload(
        release, {**DEMO_MIGRATIONS, "seed.sql": "insert into x values (1);\n"}, release_engineer
    )
    upload(
        release, {**DEMO_MIGRATIONS, "seed.sql": "insert into x values (2);\n"}, release_engineer
    )
    client.force_login(qa_lead)

    html = client.get(changes_url(release, "?from=1&to=3")).content.decode()

    assert "Seeds: added" in html
    assert '<span class="diff-add">insert into x values (2);</span>' in html
    assert client.get(changes_url(release, "?from=9&to=3")).status_code == 404


def test_the_stale_banner_links_the_diff_since_the_signoff(
    client, release, platform_lead, release_engineer
):
    upload(release, {**DEMO_MIGRATIONS, "config.toml": 'project_id = "a"\n'}, release_engineer)
    approve(release, platform_lead)
    upload(release, {**DEMO_MIGRATIONS, "config.toml": 'project_id = "b"\n'}, release_engineer)
    client.force_login(platform_lead)

    page = client.get(reverse("release_detail", kwargs={"pk": release.pk})).content.decode()
    assert "config.toml changed: supabase/config.toml" in page
    assert changes_url(release, "?from=signed") in page
    assert changes_url(release) in page  # the files card

    html = client.get(changes_url(release, "?from=signed")).content.decode()
    assert "as signed off" in html
    assert '<span class="diff-del">project_id = &quot;a&quot;</span>' in html
    assert '<span class="diff-add">project_id = &quot;b&quot;</span>' in html


def test_a_long_diff_is_cut_with_a_link_to_the_whole_file(
    client, release, release_engineer, qa_lead
):
    long_before = "".join(f"select {n};\n" for n in range(MAX_DIFF_LINES * 2))
    long_after = "".join(f"select {n} + 1;\n" for n in range(MAX_DIFF_LINES * 2))
    upload(release, {**DEMO_MIGRATIONS, "scripts/big.sql": long_before}, release_engineer)
    upload(release, {**DEMO_MIGRATIONS, "scripts/big.sql": long_after}, release_engineer)
    client.force_login(qa_lead)

    html = client.get(changes_url(release)).content.decode()

    assert f"Cut after {MAX_DIFF_LINES} lines." in html
    assert html.count('class="diff-') <= MAX_DIFF_LINES + 2
    link = reverse(
        "release_bundle_file", kwargs={"pk": release.pk, "digest": release.bundle.digest}
    )
    assert f"{link}?path=supabase/scripts/big.sql" in html
    download = client.get(link, {"path": "supabase/scripts/big.sql"})
    assert download.status_code == 200
    assert download.content.decode() == long_after
    assert download["Content-Disposition"].startswith("attachment;")


def test_another_projects_bundle_is_not_reachable_through_a_release(
    client, release, release_engineer, qa_lead, other_project, outsider
):
    upload(release, DEMO_MIGRATIONS, release_engineer)
    published_runbook(other_project)
    theirs = release_create(
        project=other_project,
        title="Theirs",
        owner=outsider,
        commit_sha="b" * 40,
        created_by=outsider,
    )
    secret = {**DEMO_MIGRATIONS, "seed.sql": "insert into secrets values ('theirs');\n"}
    upload(theirs, secret, outsider)
    client.force_login(qa_lead)

    # Their bundle's digest under our release: 404, as is a path our bundle lacks.
    url = reverse("release_bundle_file", kwargs={"pk": release.pk, "digest": theirs.bundle.digest})
    assert client.get(url, {"path": "supabase/seed.sql"}).status_code == 404
    ours = reverse(
        "release_bundle_file", kwargs={"pk": release.pk, "digest": release.bundle.digest}
    )
    assert client.get(ours, {"path": "supabase/../etc/passwd"}).status_code == 404
    # Their release's pages: 404 for us; and ours for them.
    assert client.get(changes_url(theirs)).status_code == 404
    client.force_login(outsider)
    assert client.get(changes_url(release)).status_code == 404
    assert client.get(ours, {"path": "supabase/seed.sql"}).status_code == 404


def test_a_hostile_file_name_is_shown_escaped_and_downloads_by_its_name(
    client, release, release_engineer, qa_lead
):
    name = 'tests/"><img src=x onerror=alert(1)>.sql'
    upload(release, DEMO_MIGRATIONS, release_engineer)
    upload(release, {**DEMO_MIGRATIONS, name: "select 1;\n"}, release_engineer)
    client.force_login(qa_lead)

    html = client.get(changes_url(release)).content.decode()

    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;.sql" in html
    link = reverse(
        "release_bundle_file", kwargs={"pk": release.pk, "digest": release.bundle.digest}
    )
    download = client.get(link, {"path": f"supabase/{name}"})
    assert download.status_code == 200 and download.content == b"select 1;\n"
    assert '"><img' not in download["Content-Disposition"]
