"""The jobs panel, on the release page and on the release's jobs page.

What a release engineer saw: the jobs page's card offered "All jobs of this release",
a link to the page itself; on a release with no migrations "Run" was disabled but its
Job and Target selects still took choices.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from checklists.models import MigrationFile

LINK = "All jobs of this release"
REASON = "Upload the release&#x27;s migrations first: every check runs on them."


def _urls(release):
    return (
        reverse("release_detail", kwargs={"pk": release.pk}),
        reverse("release_jobs", kwargs={"pk": release.pk}),
    )


def _run_form(html: str) -> str:
    start = html.index('id="id_kind"') if 'id="id_kind"' in html else -1
    assert start > 0, "no Run form"
    return html[html.rindex("<form", 0, start) : html.index("</form>", start)]


@pytest.fixture
def with_files(release):
    MigrationFile.objects.create(
        release=release, filename="20250101000000_notes.sql", version="20250101000000",
        name="notes", sha256="0" * 64, size=10, sql="select 1;",
    )  # fmt: skip
    return release


def test_the_jobs_page_does_not_link_to_itself(client, platform_lead, release):
    client.force_login(platform_lead)
    release_page, jobs_page = _urls(release)
    assert f'<a class="small" href="{jobs_page}">{LINK}</a>' in client.get(release_page).text
    assert LINK not in client.get(jobs_page).text


def test_the_panel_an_htmx_run_returns_links_only_away_from_the_jobs_page(
    client, platform_lead, release, with_files, sent
):
    client.force_login(platform_lead)
    release_page, jobs_page = _urls(release)
    start = reverse("release_job_start", kwargs={"pk": release.pk})
    for page, linked in ((jobs_page, False), (release_page, True)):
        answer = client.post(
            start, {"kind": "pending"}, headers={"HX-Request": "true",
                                                 "HX-Current-URL": f"http://testserver{page}"}
        )  # fmt: skip
        assert answer.status_code == 200
        assert (LINK in answer.text) == linked, page


@pytest.mark.parametrize("page", [0, 1], ids=["release page", "jobs page"])
def test_on_a_release_without_migrations_the_whole_run_form_is_off_saying_why_once(
    client, platform_lead, release, page
):
    client.force_login(platform_lead)
    html = client.get(_urls(release)[page]).text
    form = _run_form(html)
    assert '<fieldset class="plain-fieldset" disabled aria-describedby="jobs-blocked">' in form
    # The selects and the button sit inside the disabled fieldset.
    fieldset = form[form.index("<fieldset") : form.index("</fieldset>")]
    assert (
        'id="id_kind"' in fieldset and 'id="id_target"' in fieldset and ">Run</button>" in fieldset
    )
    assert html.count(REASON) == 1
    assert re.search(
        r'<button type="submit" class="btn btn-primary" disabled[^>]*>Run pre-flight', html
    )


@pytest.mark.parametrize("page", [0, 1], ids=["release page", "jobs page"])
def test_with_migrations_the_run_form_is_on(client, platform_lead, with_files, page):
    client.force_login(platform_lead)
    html = client.get(_urls(with_files)[page]).text
    assert "disabled" not in _run_form(html)
    assert REASON not in html


@pytest.mark.parametrize("page", [0, 1], ids=["release page", "jobs page"])
def test_the_target_menu_names_each_target_as_the_pages_do(client, platform_lead, with_files, page):
    # The menu offered "demo/production": the project's slug before every name, where the
    # jobs table beside it and the API say "production".
    from tests.factories import TargetFactory

    TargetFactory(project=with_files.project, name="eu-replica", kind="other")
    client.force_login(platform_lead)
    form = _run_form(client.get(_urls(with_files)[page]).text)
    start = form.index('id="id_target"')
    labels = re.findall(
        r"<option [^>]*>([^<]*)</option>", form[start : form.index("</select>", start)]
    )
    names = sorted(with_files.project.targets.values_list("name", flat=True))
    assert "eu-replica" in names
    # The default names the staging database it is ("staging (default)" for one named so).
    staging = with_files.project.targets.get(kind="staging")
    said = "staging" if staging.name == "staging" else f"Staging: {staging.name}"
    assert labels[0] == f"{said} (default)"
    assert sorted(labels[1:]) == names
