"""The job page and its live log: what each person sees, and how the log is polled."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from migrations_ops.jobs.results import RESULT_VIEWS
from migrations_ops.jobs.selectors import LOG_PAGE_LINES
from migrations_ops.models import Job
from tests.html import inline_code
from tests.migrations_ops.jobs.factories import JobFactory, add_log_lines

MEMBERS = ["platform_lead", "release_engineer", "qa_lead", "sre", "auditor"]


@pytest.fixture
def job(release, staging, release_engineer):
    job = JobFactory(
        project=release.project,
        release=release,
        target=staging,
        kind="dry_run",
        state=Job.State.RUNNING,
        started_at=timezone.now(),
        created_by=release_engineer,
        created_by_name="releng",
        attempts=1,
    )
    add_log_lines(job, 3)
    return job


def log_url(job, after=0):
    return reverse("job_log", kwargs={"pk": job.pk}) + f"?after={after}"


def spans(html):
    return re.findall(r'<span class="line [a-z]+">(.*?)</span>', html)


@pytest.mark.parametrize("role", MEMBERS)
def test_every_member_sees_the_job_and_its_log(client, personas, job, role):
    client.force_login(personas[role])
    response = client.get(reverse("job_detail", kwargs={"pk": job.pk}))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Dry run on staging" in html
    assert 'class="badge badge-running"' in html
    assert spans(html) == ["line 1", "line 2", "line 3"]
    assert inline_code(html) == []
    assert client.get(log_url(job)).status_code == 200


def test_another_projects_member_gets_404_everywhere(client, personas, job):
    client.force_login(personas["outsider"])
    assert client.get(reverse("job_detail", kwargs={"pk": job.pk})).status_code == 404
    assert client.get(log_url(job)).status_code == 404
    assert client.post(reverse("job_cancel", kwargs={"pk": job.pk})).status_code == 404
    assert client.post(reverse("job_retry", kwargs={"pk": job.pk})).status_code == 404
    assert client.get(reverse("release_jobs", kwargs={"pk": job.release_id})).status_code == 404
    job.refresh_from_db()
    assert job.cancel_requested_at is None


def test_a_running_job_polls_from_its_last_line_and_offers_a_refresh_link(client, auditor, job):
    client.force_login(auditor)
    html = client.get(reverse("job_detail", kwargs={"pk": job.pk})).content.decode()
    assert f'hx-get="{log_url(job, 3)}"' in html.replace("&amp;", "&")
    assert 'hx-trigger="every 1s"' in html
    assert 'hx-swap="beforeend"' in html
    assert f'href="{reverse("job_detail", kwargs={"pk": job.pk})}">Refresh' in html


def test_an_ended_job_shows_its_whole_log_and_does_not_poll(client, auditor, job):
    Job.objects.filter(pk=job.pk).update(state="succeeded", summary="3 files apply cleanly")
    client.force_login(auditor)
    html = client.get(reverse("job_detail", kwargs={"pk": job.pk})).content.decode()
    assert "hx-trigger" not in html
    assert "3 files apply cleanly" in html
    assert len(spans(html)) == 3


def test_the_log_endpoint_answers_only_new_lines(client, auditor, job):
    client.force_login(auditor)
    response = client.get(log_url(job, after=1))
    assert response.status_code == 200
    html = response.content.decode()
    assert spans(html) == ["line 2", "line 3"]
    # The poller comes back out of band, carrying the last seq; the badge too.
    assert re.search(r'id="log-poller"[^>]*after=3"[^>]*hx-trigger="every 1s"', html)
    assert 'id="job-status" class="badge badge-running" hx-swap-oob="true"' in html
    empty = client.get(log_url(job, after=3)).content.decode()
    assert spans(empty) == []
    assert "after=3" in empty
    assert top_level_text(html) == top_level_text(empty) == ""


def test_the_log_endpoint_says_286_once_the_job_has_ended(client, auditor, job):
    client.force_login(auditor)
    Job.objects.filter(pk=job.pk).update(state="failed", summary="1 file failed")
    response = client.get(log_url(job, after=2))
    assert response.status_code == 286
    html = response.content.decode()
    assert spans(html) == ["line 3"]
    assert "hx-trigger" not in html  # the new poller does not poll
    assert 'class="badge badge-failed" hx-swap-oob="true"' in html
    assert 'id="job-outcome"' in html and "1 file failed" in html
    # The facts beside the result (finished at, attempts) are swapped in too.
    assert 'id="job-facts" aria-label="About this job" hx-swap-oob="true"' in html
    # What is left once htmx takes out the swapped-in parts goes at the end of the log
    # (hx-swap="beforeend" into a <pre>): whitespace around them showed as blank lines
    # in a live log, gone on reload.
    assert top_level_text(html) == ""


def top_level_text(html):
    """The text of ``html`` outside any element: what an htmx swap adds as text nodes."""
    from html.parser import HTMLParser

    void = {"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}

    class Outside(HTMLParser):
        depth, text = 0, ""

        def handle_starttag(self, tag, attrs):
            self.depth += tag not in void

        def handle_endtag(self, tag):
            self.depth -= tag not in void

        def handle_data(self, data):
            if self.depth == 0:
                self.text += data

    parser = Outside()
    parser.feed(html)
    return parser.text


def test_a_long_log_is_sent_in_pages_and_never_again(client, auditor, job):
    job.log_lines.all().delete()
    job.log_count = 0
    add_log_lines(job, 10_000)
    Job.objects.filter(pk=job.pk).update(state="succeeded")
    client.force_login(auditor)
    first = client.get(log_url(job, after=0))
    assert first.status_code == 200  # ended, but more lines follow: keep polling
    assert len(spans(first.content.decode())) == LOG_PAGE_LINES
    assert f"after={LOG_PAGE_LINES}" in first.content.decode()
    tail = client.get(log_url(job, after=9_990))
    assert tail.status_code == 286
    assert spans(tail.content.decode()) == [f"line {n}" for n in range(9_991, 10_001)]


def test_the_log_endpoint_makes_few_queries(client, auditor, job, django_assert_max_num_queries):
    client.force_login(auditor)
    # Every second: session, user, then the job's few columns with the membership test
    # and its new lines in one statement.
    with django_assert_max_num_queries(3):
        assert client.get(log_url(job, after=1)).status_code == 200
    # Once, at the end: the job again, whole (project, release, target), for the result.
    Job.objects.filter(pk=job.pk).update(state="succeeded")
    with django_assert_max_num_queries(5):
        assert client.get(log_url(job, after=3)).status_code == 286


def test_the_log_poll_does_not_build_the_page_navigation(client, auditor, job, monkeypatch):
    """The shell's navigation is lazy: a poll (every second per open job page) draws no
    navigation, so it reverses none of its URLs; the job page does."""
    import django.urls

    reversed_names = []
    real = django.urls.reverse

    def recording(viewname, *args, **kwargs):
        reversed_names.append(viewname)
        return real(viewname, *args, **kwargs)

    monkeypatch.setattr(django.urls, "reverse", recording)
    client.force_login(auditor)
    assert client.get(log_url(job, after=1)).status_code == 200
    assert "backup_list" not in reversed_names
    assert client.get(reverse("job_detail", kwargs={"pk": job.pk})).status_code == 200
    assert "backup_list" in reversed_names


def test_log_lines_are_escaped(client, auditor, job):
    add_log_lines(job, 1, text='<script>alert("x")</script><img src=x onerror=alert(1)>')
    client.force_login(auditor)
    for url in (reverse("job_detail", kwargs={"pk": job.pk}), log_url(job)):
        html = client.get(url).content.decode()
        assert "<script>alert" not in html
        assert "<img src=x" not in html
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_a_bad_after_counts_from_the_start(client, auditor, job):
    client.force_login(auditor)
    response = client.get(reverse("job_log", kwargs={"pk": job.pk}) + "?after=abc")
    assert spans(response.content.decode()) == ["line 1", "line 2", "line 3"]


def test_a_kind_without_a_view_of_its_own_shows_its_result_as_tables_and_text(
    client, sre, job, monkeypatch
):
    # Every kind has a view today: take one away, as a kind added without one would be.
    monkeypatch.delitem(RESULT_VIEWS, "rehearsal")
    Job.objects.filter(pk=job.pk).update(
        kind="rehearsal",
        state="succeeded",
        result={
            "pending": ["20250101000000_notes.sql"],
            "tables": [{"name": "app.notes", "rls": False}],
            "catalog": {"policies": 2},
            "note": "<b>bold</b>",
        },
    )
    # An SRE: a rehearsal's result is for those who may read production's rows.
    client.force_login(sre)
    html = client.get(reverse("job_detail", kwargs={"pk": job.pk})).content.decode()
    assert "<li>20250101000000_notes.sql</li>" in html
    # A list of objects is a table (jsonb keeps keys in its own order, so no column order).
    assert '<th scope="col">Name</th>' in html and '<th scope="col">Rls</th>' in html
    assert "<td>app.notes</td>" in html and "<td>no</td>" in html
    assert '<th scope="row">Policies</th><td>2</td>' in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html


def test_a_running_job_whose_worker_went_silent_says_so_and_what_happens_next(client, auditor, job):
    # A killed worker leaves its job "running" until the reaper, a Celery task waiting for
    # a free worker, takes it back; before, the page read as if it were still running.
    heard = timezone.now() - timedelta(minutes=3)
    Job.objects.filter(pk=job.pk).update(
        heartbeat_at=heard, lease_expires_at=heard + timedelta(seconds=60), max_attempts=2
    )
    client.force_login(auditor)
    html = client.get(reverse("job_detail", kwargs={"pk": job.pk})).content.decode()
    assert (
        f"Its worker has not been heard from since {heard:%Y-%m-%d %H:%M:%S} UTC: it has "
        "probably stopped" in html
    )
    assert "it runs it again while attempts remain (1 of 2 used), else fails it" in html


def test_a_running_job_with_a_live_lease_says_nothing_of_its_worker(client, auditor, job):
    Job.objects.filter(pk=job.pk).update(
        heartbeat_at=timezone.now(), lease_expires_at=timezone.now() + timedelta(seconds=60)
    )
    client.force_login(auditor)
    html = client.get(reverse("job_detail", kwargs={"pk": job.pk})).content.decode()
    assert "job-worker-silent" not in html
