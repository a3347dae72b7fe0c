"""Starting, cancelling and retrying jobs from the pages: who may, and what they see."""

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from migrations_ops.jobs.kinds import PREFLIGHT_KINDS
from migrations_ops.models import Job
from release_portal.audit.models import AuditEvent
from tests.html import inline_code
from tests.migrations_ops.jobs.factories import JobFactory

RUN_CHECKS = ["platform_lead", "release_engineer", "qa_lead"]
NO_RUN_CHECKS = ["sre", "auditor"]


def start_url(release):
    return reverse("release_job_start", kwargs={"pk": release.pk})


def preflight_url(release):
    return reverse("release_preflight", kwargs={"pk": release.pk})


@pytest.mark.parametrize("role", RUN_CHECKS)
def test_people_who_run_checks_may_start_a_check(client, personas, release, staging, role, sent):
    client.force_login(personas[role])
    response = client.post(start_url(release), {"kind": "dry_run"})
    assert response.status_code == 302
    job = Job.objects.get()
    assert (job.kind, job.target, job.created_by) == ("dry_run", staging, personas[role])


@pytest.mark.parametrize("role", NO_RUN_CHECKS)
def test_others_may_not_start_a_check(client, personas, release, staging, role):
    client.force_login(personas[role])
    assert client.post(start_url(release), {"kind": "dry_run"}).status_code == 403
    assert not Job.objects.exists()


@pytest.mark.parametrize(("role", "status"), [("sre", 302), ("qa_lead", 403), ("auditor", 403)])
def test_backups_are_for_the_sre_and_the_lead(client, personas, release, staging, role, status):
    client.force_login(personas[role])
    assert client.post(start_url(release), {"kind": "backup"}).status_code == status
    assert Job.objects.filter(kind="backup").exists() == (status == 302)


def test_apply_is_not_started_from_the_jobs_panel(client, platform_lead, release, staging):
    client.force_login(platform_lead)
    response = client.post(start_url(release), {"kind": "apply"})
    assert response.status_code == 403
    assert not Job.objects.exists()


def test_an_outsider_gets_404_for_starting_anything(client, outsider, release, staging):
    client.force_login(outsider)
    assert client.post(start_url(release), {"kind": "dry_run"}).status_code == 404
    assert client.post(preflight_url(release)).status_code == 404
    assert not Job.objects.exists()


def test_a_second_start_says_the_job_is_already_running(
    client, release_engineer, release, staging, sent
):
    client.force_login(release_engineer)
    client.post(start_url(release), {"kind": "order"})
    response = client.post(start_url(release), {"kind": "order"}, follow=True)
    job = Job.objects.get()
    assert f"already running: job #{job.pk}" in response.content.decode()


def test_with_htmx_the_panel_comes_back_with_the_new_job(
    client, release_engineer, release, staging, sent
):
    client.force_login(release_engineer)
    response = client.post(start_url(release), {"kind": "rls"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    job = Job.objects.get()
    assert html.lstrip().startswith('<section class="card" id="jobs-panel"')
    assert reverse("job_detail", kwargs={"pk": job.pk}) in html
    assert 'hx-trigger="every 2s"' in html  # a job is active: the table refreshes itself
    refresh = client.get(
        reverse("release_jobs", kwargs={"pk": release.pk}) + "?limit=20",
        headers={"HX-Request": "true"},
    )
    assert refresh.content.decode().lstrip().startswith('<div class="table-wrap" id="jobs-table"')
    assert "?limit=20" in refresh.content.decode()
    assert "Queued RLS tests" in html
    assert inline_code(html) == []


def test_without_a_staging_target_the_message_says_what_to_do(client, platform_lead, project):
    from tests.migrations_ops.jobs.factories import ReleaseFactory

    release = ReleaseFactory(project=project)
    client.force_login(platform_lead)
    response = client.post(preflight_url(release), follow=True)
    assert "has no staging target" in response.content.decode()
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    ("role", "status"), [(r, 302) for r in RUN_CHECKS] + [(r, 403) for r in NO_RUN_CHECKS]
)
def test_preflight_permission(client, personas, release, staging, role, status, sent):
    client.force_login(personas[role])
    response = client.post(preflight_url(release))
    assert response.status_code == status
    assert Job.objects.count() == (len(PREFLIGHT_KINDS) if status == 302 else 0)


def test_preflight_returns_to_the_page_it_came_from(client, platform_lead, release, staging, sent):
    client.force_login(platform_lead)
    back = reverse("release_jobs", kwargs={"pk": release.pk}) + "?from=release"
    assert client.post(preflight_url(release), {"next": back}).url == back
    elsewhere = client.post(preflight_url(release), {"next": "https://evil.example/"})
    assert elsewhere.url == reverse("release_jobs", kwargs={"pk": release.pk})


@pytest.fixture
def running(release, staging):
    return JobFactory(
        project=release.project,
        release=release,
        target=staging,
        kind="dry_run",
        state="running",
        attempts=1,
        started_at=timezone.now(),
    )


@pytest.mark.parametrize(
    ("role", "status"), [(r, 302) for r in RUN_CHECKS] + [(r, 403) for r in NO_RUN_CHECKS]
)
def test_cancel_permission(client, personas, running, role, status):
    client.force_login(personas[role])
    assert client.post(reverse("job_cancel", kwargs={"pk": running.pk})).status_code == status
    running.refresh_from_db()
    assert (running.cancel_requested_at is not None) == (status == 302)


@pytest.mark.parametrize(
    ("role", "status"), [(r, 302) for r in RUN_CHECKS] + [(r, 403) for r in NO_RUN_CHECKS]
)
def test_retry_permission(client, personas, running, role, status, sent):
    Job.objects.filter(pk=running.pk).update(state="failed")
    client.force_login(personas[role])
    response = client.post(reverse("job_retry", kwargs={"pk": running.pk}))
    assert response.status_code == status
    retries = Job.objects.filter(retry_of=running)
    assert retries.count() == (1 if status == 302 else 0)
    if status == 302:
        assert response.url == reverse("job_detail", kwargs={"pk": retries.get().pk})


def test_the_buttons_show_only_to_people_who_may_press_them(client, personas, running):
    url = reverse("job_detail", kwargs={"pk": running.pk})
    client.force_login(personas["qa_lead"])
    assert ">Cancel</button>" in client.get(url).content.decode()
    client.force_login(personas["sre"])
    assert ">Cancel</button>" not in client.get(url).content.decode()
    Job.objects.filter(pk=running.pk).update(state="failed")
    assert ">Retry</button>" not in client.get(url).content.decode()
    client.force_login(personas["qa_lead"])
    assert ">Retry</button>" in client.get(url).content.decode()


def test_a_retry_of_apply_is_refused_here(client, platform_lead, release, staging):
    job = JobFactory(project=release.project, release=release, kind="apply", state="failed")
    client.force_login(platform_lead)
    assert client.post(reverse("job_retry", kwargs={"pk": job.pk})).status_code == 403


def test_every_post_needs_the_csrf_token(release_engineer, release, running, sent):
    client = Client(enforce_csrf_checks=True)
    client.force_login(release_engineer)
    assert client.post(start_url(release), {"kind": "order"}).status_code == 403
    assert client.post(preflight_url(release)).status_code == 403
    assert client.post(reverse("job_cancel", kwargs={"pk": running.pk})).status_code == 403
    assert not AuditEvent.objects.filter(action__startswith="job.").exists()
    # htmx sends the token in a header (hx-headers on <body>).
    page = client.get(reverse("release_jobs", kwargs={"pk": release.pk}))
    token = page.cookies["csrftoken"].value
    response = client.post(
        start_url(release), {"kind": "order"}, headers={"HX-Request": "true", "X-CSRFToken": token}
    )
    assert response.status_code == 200
    assert Job.objects.filter(kind="order").exists()


def test_the_release_jobs_page_lists_them_in_few_queries(
    client, auditor, release, running, django_assert_max_num_queries
):
    for kind in ("order", "secrets", "rls"):
        JobFactory(project=release.project, release=release, kind=kind, state="succeeded")
    client.force_login(auditor)
    # session, user, release, roles, jobs (with their targets), the page shell's project
    # list. (Someone who may start jobs adds one: the Run form's targets.)
    with django_assert_max_num_queries(6):
        response = client.get(reverse("release_jobs", kwargs={"pk": release.pk}))
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('<span class="badge badge-') >= 4
    assert "Run pre-flight" not in html  # the auditor reads, and starts nothing
    assert inline_code(html) == []


def test_the_preflight_says_which_target_it_runs_on(
    client, release_engineer, release, staging, sent
):
    # The pre-flight picks the project's first staging target by name: with a second one
    # ("eu-staging", a server that is down), it ran there and the page never said so.
    release.project.targets.create(name="eu-staging", kind="staging", url_env_var="EU_URL")
    client.force_login(release_engineer)
    html = client.post(preflight_url(release), follow=True).content.decode()
    jobs = Job.objects.order_by("pk")
    assert {job.target.name for job in jobs} == {"eu-staging"}
    assert f"{jobs.last()} on eu-staging." in html


def test_the_preflight_button_names_its_staging_target_and_offers_each_of_several(
    client, release_engineer, release, staging, sent
):
    """With one staging target the button says which database it runs on; with two, the
    person chooses (the first by name is the default) and the jobs run on that one."""
    from checklists.models import MigrationFile

    MigrationFile.objects.create(
        release=release, filename="20250101000000_a.sql", version="20250101000000", name="a",
        sha256="0" * 64, size=8, sql="select 1;",
    )  # fmt: skip
    client.force_login(release_engineer)
    page = reverse("release_detail", kwargs={"pk": release.pk})
    html = client.get(page).content.decode()
    assert f"Run pre-flight on {staging.name}</button>" in html
    assert 'id="preflight-target"' not in html

    eu = release.project.targets.create(name="eu-staging", kind="staging", url_env_var="EU_URL")
    release.project.targets.create(name="replica", kind="other", url_env_var="REPLICA_URL")
    cache.clear()  # added here without the settings page's change-log event
    html = client.get(page).content.decode()
    menu = html.split('id="preflight-target"', 1)[1].split("</select>", 1)[0]
    options = [o.split(">", 1)[1] for o in menu.split("<option ")[1:]]
    assert [o.split("<", 1)[0] for o in options] == sorted(["eu-staging", staging.name])
    assert ">Run pre-flight</button>" in html
    # The Run form's default is the first staging target by name, and says which.
    assert ">Staging: eu-staging (default)</option>" in html

    client.post(preflight_url(release), {"target": staging.pk})
    assert {job.target for job in Job.objects.all()} == {staging}
    Job.objects.update(state="succeeded")
    client.post(preflight_url(release), {"target": eu.pk})
    assert {job.target for job in Job.objects.filter(state="queued")} == {eu}
    assert Job.objects.filter(state="queued").count() == len(PREFLIGHT_KINDS)


def test_the_preflight_refuses_a_target_that_is_not_one_of_the_projects_staging_ones(
    client, release_engineer, release, staging, other_project, sent
):
    production = release.project.targets.create(
        name="production", kind="production", url_env_var="PROD_URL"
    )
    theirs = other_project.targets.create(name="their-staging", kind="staging", url_env_var="T_URL")
    client.force_login(release_engineer)
    html = client.post(preflight_url(release), {"target": production.pk}, follow=True).text
    assert "production is not one of" in html and "staging targets" in html
    html = client.post(preflight_url(release), {"target": theirs.pk}, follow=True).text
    assert "That target is not one of this project&#x27;s" in html
    assert "their-staging" not in html
    assert not Job.objects.exists()
