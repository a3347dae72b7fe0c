import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from checklists.models import MigrationFile, Release, RunbookStep, SignOff
from checklists.services.releases import release_create
from release_portal.audit.models import AuditEvent
from tests.checklists.conftest import item
from tests.factories import (
    DEMO_MIGRATIONS,
    PASSWORD,
    current_digest,
    published_runbook,
    settle_checklist,
    supabase_archive,
)
from tests.html import inline_code

ROLES = ["platform_lead", "release_engineer", "qa_lead", "sre", "auditor"]


def detail(release):
    return reverse("release_detail", kwargs={"pk": release.pk})


@pytest.mark.parametrize("role", ROLES)
def test_every_member_reads_the_release_page(client, personas, release_with_files, role):
    client.force_login(personas[role])
    response = client.get(detail(release_with_files))
    assert response.status_code == 200
    html = response.content.decode().replace("<wbr>", "")  # where a file name may wrap
    assert "Members table" in html
    assert "20250102000000_members.sql" in html
    # Step text is the runbook's Markdown, rendered by the runbook page's sanitiser.
    assert "Confirm <code>supabase/migrations</code> order" in html
    assert "`supabase/migrations`" not in html
    assert inline_code(html) == []


def test_another_projects_member_gets_404_everywhere(client, personas, release_with_files):
    client.force_login(personas["outsider"])
    release = release_with_files
    target = item(release, "run-pnpm-lint-typecheck-test")
    f = release.migration_files.first()
    for method, url in [
        ("get", detail(release)),
        ("get", reverse("migration_file", kwargs={"pk": release.pk, "file_pk": f.pk})),
        ("post", reverse("item_tick", kwargs={"pk": release.pk, "item_pk": target.pk})),
        ("post", reverse("item_untick", kwargs={"pk": release.pk, "item_pk": target.pk})),
        ("post", reverse("release_signoff", kwargs={"pk": release.pk})),
        ("post", reverse("release_migrations", kwargs={"pk": release.pk})),
        ("post", reverse("release_cancel", kwargs={"pk": release.pk})),
    ]:
        assert getattr(client, method)(url, {"revision": 0, "reason": "x"}).status_code == 404, url


def test_an_item_of_another_release_is_404_through_this_one(
    client, personas, release_with_files, project, platform_lead
):
    other = release_create(
        project=project,
        title="Other",
        owner=platform_lead,
        commit_sha="d" * 40,
        created_by=platform_lead,
    )
    foreign = item(other, "run-pnpm-lint-typecheck-test")
    client.force_login(personas["release_engineer"])
    url = reverse("item_tick", kwargs={"pk": release_with_files.pk, "item_pk": foreign.pk})
    assert client.post(url, {"revision": 0}).status_code == 404
    assert item(other, "run-pnpm-lint-typecheck-test").state == "open"


def test_the_auditor_sees_no_buttons(client, personas, release_with_files):
    client.force_login(personas["auditor"])
    html = client.get(detail(release_with_files)).content.decode()
    assert ">Tick<" not in html
    assert "Store migrations" not in html
    assert "Sign off" not in html
    assert "Cancel release" not in html


def test_the_qa_lead_sees_tick_buttons_only_on_their_items(client, personas, release_with_files):
    client.force_login(personas["qa_lead"])
    html = client.get(detail(release_with_files)).content.decode()
    rls = item(release_with_files, "rls-docker-test-suite-passed")
    order = item(release_with_files, "run-pnpm-lint-typecheck-test")
    assert reverse("item_tick", kwargs={"pk": release_with_files.pk, "item_pk": rls.pk}) in html
    assert (
        reverse("item_tick", kwargs={"pk": release_with_files.pk, "item_pk": order.pk}) not in html
    )


def test_ticking_with_htmx_returns_the_item_and_announces_the_change(
    client, personas, release_with_files
):
    client.force_login(personas["release_engineer"])
    target = item(release_with_files, "run-pnpm-lint-typecheck-test")
    url = reverse("item_tick", kwargs={"pk": release_with_files.pk, "item_pk": target.pk})
    response = client.post(
        url, {"revision": target.revision, "comment": "<b>ok</b>"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<li id="item-{target.pk}"')
    # Only the item: every other panel refreshes itself on the event.
    assert 'id="signoffs"' not in html
    assert response["HX-Trigger"] == "release-changed"
    assert "&lt;b&gt;ok&lt;/b&gt;" in html
    assert item(release_with_files, "run-pnpm-lint-typecheck-test").state == "done"


def test_a_double_click_with_htmx_shows_already_done(client, personas, release_with_files):
    client.force_login(personas["release_engineer"])
    target = item(release_with_files, "run-pnpm-lint-typecheck-test")
    url = reverse("item_tick", kwargs={"pk": release_with_files.pk, "item_pk": target.pk})
    client.post(url, {"revision": target.revision}, headers={"HX-Request": "true"})
    response = client.post(url, {"revision": target.revision}, headers={"HX-Request": "true"})
    assert "Already done by releng" in response.content.decode()
    # A 4xx fragment made for its target: portal.js swaps it in place.
    assert response.status_code == 422 and response["X-Portal-Fragment"] == "1"
    assert AuditEvent.objects.filter(action="item.tick").count() == 1


def test_a_tick_form_from_before_new_migrations_is_refused_in_place(
    client, personas, release_with_files
):
    """The form carries the content digest its page showed: new migrations uploaded while
    it was open make the tick a 422 with what happened and the line diff, writing nothing."""
    from checklists.services.migrations import release_upload_archive

    client.force_login(personas["release_engineer"])
    target = item(release_with_files, "run-pnpm-lint-typecheck-test")
    page = client.get(detail(release_with_files)).content.decode()
    seen = release_with_files.content_digest
    assert f'name="seen_content" value="{seen}"' in page
    newer = {**DEMO_MIGRATIONS, "migrations/20250103000000_more.sql": "select 1;\n"}
    release_upload_archive(release=release_with_files, data=supabase_archive(newer),
                           filename="s.zip", actor=personas["release_engineer"])  # fmt: skip
    url = reverse("item_tick", kwargs={"pk": release_with_files.pk, "item_pk": target.pk})
    response = client.post(
        url,
        {"revision": target.revision, "seen_content": seen, "comment": "lint passed"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 422 and response["X-Portal-Fragment"] == "1"
    html = response.content.decode()
    assert "Nothing was ticked: the migrations changed since you opened this page" in html
    assert reverse("release_changes", kwargs={"pk": release_with_files.pk}) in html
    assert item(release_with_files, "run-pnpm-lint-typecheck-test").state == "open"
    assert not AuditEvent.objects.filter(action="item.tick").exists()


def test_ticking_without_javascript_redirects_back(client, personas, release_with_files):
    client.force_login(personas["release_engineer"])
    target = item(release_with_files, "run-pnpm-lint-typecheck-test")
    url = reverse("item_tick", kwargs={"pk": release_with_files.pk, "item_pk": target.pk})
    response = client.post(url, {"revision": target.revision})
    assert response.status_code == 302
    assert response["Location"].endswith(f"#item-{target.pk}")
    page = client.get(response["Location"]).content.decode()
    assert "Ticked:" in page


def test_ticking_someone_elses_item_is_403(client, personas, release_with_files):
    client.force_login(personas["auditor"])
    target = item(release_with_files, "run-pnpm-lint-typecheck-test")
    url = reverse("item_tick", kwargs={"pk": release_with_files.pk, "item_pk": target.pk})
    assert client.post(url, {"revision": 0}).status_code == 403
    assert client.post(url, {"revision": 0}, headers={"HX-Request": "true"}).status_code == 403


def test_evidence_file_upload_with_the_tick(client, personas, release_with_files):
    client.force_login(personas["qa_lead"])
    target = item(release_with_files, "application-smoke-tests-security-checks")
    url = reverse("item_tick", kwargs={"pk": release_with_files.pk, "item_pk": target.pk})
    upload = SimpleUploadedFile("rls-report.txt", b"all 42 RLS tests passed")
    client.post(url, {"revision": target.revision, "file": upload})
    target.refresh_from_db()
    assert target.state == "done"
    evidence = target.evidence.get()
    assert evidence.kind == "file"
    assert evidence.file_name == "rls-report.txt"
    assert len(evidence.file_sha256) == 64


def test_csrf_is_enforced_on_ticks(personas, release_with_files):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(personas["release_engineer"])
    target = item(release_with_files, "run-pnpm-lint-typecheck-test")
    url = reverse("item_tick", kwargs={"pk": release_with_files.pk, "item_pk": target.pk})
    assert client.post(url, {"revision": 0}, headers={"HX-Request": "true"}).status_code == 403
    assert item(release_with_files, "run-pnpm-lint-typecheck-test").state == "open"


def test_signing_through_the_page(client, personas, release_with_files, platform_lead):
    settle_checklist(release_with_files, platform_lead)
    client.force_login(platform_lead)
    html = client.get(detail(release_with_files)).content.decode()
    assert "Sign off" in html
    url = reverse("release_signoff", kwargs={"pk": release_with_files.pk})
    seen = current_digest(release_with_files)
    response = client.post(
        url, {"kind": "release_owner", "password": "wrong", "seen_digest": seen}, follow=True
    )
    assert "password is not right" in response.content.decode()
    assert not SignOff.objects.exists()
    client.post(url, {"kind": "release_owner", "password": PASSWORD, "seen_digest": seen})
    assert SignOff.objects.get().user == platform_lead


def test_uploading_migrations_through_the_page(client, personas, release):
    client.force_login(personas["release_engineer"])
    url = reverse("release_migrations", kwargs={"pk": release.pk})
    archive = SimpleUploadedFile("supabase.zip", supabase_archive(DEMO_MIGRATIONS))
    response = client.post(url, {"archive": archive}, follow=True)
    assert "Migrations stored (2 added" in response.content.decode()
    assert release.migration_files.count() == 2


def test_a_bad_upload_says_nothing_was_stored(client, personas, release):
    client.force_login(personas["release_engineer"])
    url = reverse("release_migrations", kwargs={"pk": release.pk})
    response = client.post(url, {"archive": SimpleUploadedFile("x.zip", b"nope")}, follow=True)
    assert "Nothing was stored: x.zip is not a zip or tar.gz" in response.content.decode()


@pytest.mark.parametrize("role", ["qa_lead", "sre", "auditor"])
def test_only_release_engineers_and_leads_upload(client, personas, release, role):
    client.force_login(personas[role])
    url = reverse("release_migrations", kwargs={"pk": release.pk})
    archive = SimpleUploadedFile("supabase.zip", supabase_archive(DEMO_MIGRATIONS))
    assert client.post(url, {"archive": archive}).status_code == 403
    assert release.migration_files.count() == 0


def test_creating_a_release_through_the_page(client, personas, project, runbook):
    client.force_login(personas["release_engineer"])
    response = client.post(
        reverse("release_new"),
        {
            "project": project.pk,
            "title": "<script>alert(1)</script>",
            "owner": personas["platform_lead"].pk,
            "commit_sha": "e" * 40,
        },
    )
    release = Release.objects.get()
    assert response["Location"] == detail(release)
    html = client.get(detail(release)).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_page_refuses_a_second_release_of_a_commit(client, personas, project, runbook):
    client.force_login(personas["release_engineer"])
    form = {
        "project": project.pk,
        "title": "Members",
        "owner": personas["platform_lead"].pk,
        "commit_sha": "e" * 40,
    }
    first = client.post(reverse("release_new"), form)
    assert first.status_code == 302
    again = client.post(reverse("release_new"), {**form, "title": "Members again"})
    assert again.status_code == 400
    existing = Release.objects.get()
    assert f"Release #{existing.pk} (Members) is already the release of commit" in (
        again.content.decode()
    )


def test_a_bad_sha_on_the_form_stores_nothing(client, personas, project, runbook):
    client.force_login(personas["release_engineer"])
    response = client.post(
        reverse("release_new"),
        {
            "project": project.pk,
            "title": "x",
            "owner": personas["platform_lead"].pk,
            "commit_sha": "main",
        },
    )
    assert response.status_code == 400
    # Said once, with what was typed kept (the page said it twice: a banner, then again
    # above the fields).
    html = response.content.decode()
    assert html.count("not a commit SHA") == 1
    assert 'value="x"' in html and 'value="main"' in html
    assert not Release.objects.exists()


@pytest.mark.parametrize("role", ["qa_lead", "sre", "auditor"])
def test_other_roles_cannot_create_releases(client, personas, project, runbook, role):
    client.force_login(personas[role])
    assert client.get(reverse("release_new")).status_code == 403


def test_a_lead_of_another_project_cannot_create_here(client, personas, project, runbook):
    client.force_login(personas["outsider"])
    response = client.post(
        reverse("release_new"),
        {
            "project": project.pk,
            "title": "x",
            "owner": personas["outsider"].pk,
            "commit_sha": "e" * 40,
        },
    )
    assert response.status_code == 400  # not a choice they have
    assert not Release.objects.exists()


def test_the_release_list_filters_and_shows_only_visible_releases(
    client, personas, release_with_files, other_project, outsider
):
    published_runbook(other_project)
    release_create(
        project=other_project,
        title="Hidden",
        owner=outsider,
        commit_sha="f" * 40,
        created_by=outsider,
    )
    client.force_login(personas["qa_lead"])
    html = client.get(reverse("release_list")).content.decode()
    assert "Members table" in html and "Hidden" not in html
    html = client.get(reverse("release_list"), {"state": "deployed"}).content.decode()
    assert "Members table" not in html and "No releases match" in html
    fragment = client.get(
        reverse("release_list"), {"owner": "lead"}, headers={"HX-Request": "true"}
    )
    assert fragment.content.decode().lstrip().startswith('<div id="release-table">')


def test_the_release_page_issues_a_constant_number_of_queries(
    client, personas, project, runbook, platform_lead, django_assert_max_num_queries
):
    version = published_runbook(
        project,
        number=2,
        steps=[
            (f"Section {i // 10}", f"step-{i}", f"Step {i}", "qa_lead", ["job:rls"], False, False)
            for i in range(39)
        ]
        + [("Sign", "owner-signoff", "Owner sign-off", "release_owner", [], False, True)],
    )
    release = release_create(
        project=project,
        title="Big",
        owner=platform_lead,
        commit_sha="a" * 40,
        created_by=platform_lead,
    )
    assert release.runbook_version == version and release.items.count() == 40
    MigrationFile.objects.bulk_create(
        MigrationFile(
            release=release,
            filename=f"2025{i:010d}_m.sql",
            version=f"2025{i:010d}",
            name="m",
            sha256="0" * 64,
            size=10,
            sql="select 1;",
        )
        for i in range(500)
    )
    client.force_login(personas["qa_lead"])
    # session, user, release, roles, items, evidence, waivers, files, sign-offs, timeline,
    # the navigation's projects (11); the jobs panel: its jobs and the targets for its form
    # (2); the gate: items, sign-offs, waivers, checked items and their evidence, whether
    # there are files, freeze window, break-glass, pull request, follow-ups (10); the
    # backups panel: latest backup, its target, the rollback plan, roles (4); the
    # monitoring window (1); the targets of the apply form (1).
    # 29, whatever the number of items or files.
    with django_assert_max_num_queries(29):
        response = client.get(detail(release))
    assert response.status_code == 200
    assert response.content.decode().count('class="item item-') == 40
    assert RunbookStep.objects.filter(version=version).count() == 40


def test_the_page_polls_the_release_revision_which_a_finished_job_moves(
    client, personas, release_with_files
):
    from migrations_ops.jobs.dispatch import record_job_end
    from migrations_ops.models import Job

    client.force_login(personas["qa_lead"])
    html = client.get(detail(release_with_files)).content.decode()
    url = reverse("release_revision", kwargs={"pk": release_with_files.pk})
    assert f'data-revision-url="{url}"' in html
    known = html.split('data-revision="', 1)[1].split('"', 1)[0]
    unchanged = client.get(url, {"known": known})
    assert unchanged.status_code == 204 and unchanged.content == b""
    job = Job.objects.create(
        project=release_with_files.project, release=release_with_files, kind="order"
    )
    Job.objects.filter(pk=job.pk).update(state="succeeded")
    job.refresh_from_db()
    record_job_end(job, actor=None)
    changed = client.get(url, {"known": known})
    assert changed.status_code == 200
    assert changed.json()["revision"] > int(known)


@pytest.mark.django_db(transaction=True)
def test_reopening_and_not_applicable_work_outside_a_test_transaction(client, project, personas):
    # Views run in autocommit: each service must open its own transaction.
    published_runbook(project)
    release = release_create(
        project=project,
        title="t",
        owner=personas["platform_lead"],
        commit_sha="c" * 40,
        created_by=personas["platform_lead"],
    )
    client.force_login(personas["release_engineer"])
    target = item(release, "run-pnpm-lint-typecheck-test")
    na = reverse("item_not_applicable", kwargs={"pk": release.pk, "item_pk": target.pk})
    assert (
        client.post(na, {"revision": target.revision, "reason": "no app code"}).status_code == 302
    )
    target.refresh_from_db()
    assert target.state == "not_applicable"
    reopen = reverse("item_untick", kwargs={"pk": release.pk, "item_pk": target.pk})
    assert client.post(reopen, {"revision": target.revision, "reason": "wrong"}).status_code == 302
    target.refresh_from_db()
    assert target.state == "open"


def test_the_release_page_has_no_duplicate_ids(client, personas, release_with_files):
    import re as regex

    client.force_login(personas["platform_lead"])
    html = client.get(detail(release_with_files)).content.decode()
    ids = regex.findall(r'\sid="([^"]+)"', html)
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert duplicates == []


@pytest.mark.parametrize("htmx", [False, True])
def test_someone_who_may_not_tick_is_told_so_before_what_their_form_lacks(
    client, personas, release_with_files, htmx
):
    """An auditor's tick with an empty form was answered "This field is required.", as if
    sending the revision would have let them: who may act is checked first."""
    target = item(release_with_files, "run-pnpm-lint-typecheck-test")
    client.force_login(personas["auditor"])
    url = reverse("item_tick", kwargs={"pk": release_with_files.pk, "item_pk": target.pk})
    response = client.post(url, {}, headers={"HX-Request": "true"} if htmx else {})
    assert response.status_code == 403
    assert "Only the Release engineer (or a platform lead) ticks this item." in (
        response.content.decode()
    )
    assert item(release_with_files, "run-pnpm-lint-typecheck-test").state == "open"


def test_an_empty_form_for_an_item_of_another_release_is_404(
    client, personas, release_with_files, project, platform_lead
):
    other = release_create(project=project, title="Other", owner=platform_lead,
                           commit_sha="d" * 40, created_by=platform_lead)  # fmt: skip
    foreign = item(other, "run-pnpm-lint-typecheck-test")
    client.force_login(personas["release_engineer"])
    url = reverse("item_tick", kwargs={"pk": release_with_files.pk, "item_pk": foreign.pk})
    assert client.post(url, {}, headers={"HX-Request": "true"}).status_code == 404
