"""Faults on the target database, on throwaway servers the tests start.

- the target PostgreSQL restarts while an apply job runs: the job ends failed with the
  reason, the file in flight is not recorded, and applying again applies it once;
- another session holds a lock the migration needs: lock_timeout ends the wait with a
  clear message instead of a job that hangs, and nothing is half-applied.
"""

from __future__ import annotations

import threading

import psycopg
import pytest

from checklists.services.migrations import release_upload_archive
from checklists.services.releases import release_create
from migrations_ops.jobs.engine import job_execute
from migrations_ops.jobs.services import job_enqueue
from migrations_ops.models import Target
from release_portal import embedded
from tests.factories import published_runbook, supabase_archive
from tests.migrations_ops.jobs.processes import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

SLOW = "migrations/20250102000000_slow.sql"
FILES = {
    "migrations/20250101000000_create.sql": "create table public.notes (id bigint primary key);\n",
    # Slow enough to restart the server underneath it.
    SLOW: "select pg_sleep(4);\nalter table public.notes add column body text;\n",
}


def history(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select version from supabase_migrations.schema_migrations order by version"
        ).fetchall()
    return [r[0] for r in rows]


@pytest.fixture
def target_url(throwaway_pgdata, monkeypatch):
    embedded.server_url(throwaway_pgdata)  # starts it
    embedded.ensure_database(throwaway_pgdata, "target")
    target = embedded.server_url(throwaway_pgdata, "target")
    monkeypatch.setenv("FAULTS_TARGET_URL", target)
    return target


@pytest.fixture
def release(project, platform_lead, target_url):
    published_runbook(project)
    release = release_create(
        project=project,
        title="Faults",
        owner=platform_lead,
        commit_sha="f" * 40,
        created_by=platform_lead,
    )
    release_upload_archive(
        release=release, data=supabase_archive(FILES), filename="s.zip", actor=platform_lead
    )
    Target.objects.create(
        project=project, name="staging", kind="staging", url_env_var="FAULTS_TARGET_URL"
    )
    return release


def start_apply(release, user):
    return job_enqueue(kind="apply", project=release.project, release=release,
                       target=release.project.targets.get(), created_by=user)  # fmt: skip


def test_it_fails_an_apply_cleanly_when_the_target_restarts_and_applies_once_after(
    release, platform_lead, throwaway_pgdata, target_url
):
    job = start_apply(release, platform_lead)
    done: list = []
    runner = threading.Thread(target=lambda: done.append(job_execute(job_id=job.pk, worker="t")))
    runner.start()
    wait_for(
        lambda: job.log_lines.filter(text__contains="20250102000000").exists(),
        timeout=30, what="the slow migration to start",
    )  # fmt: skip
    embedded.stop(throwaway_pgdata)  # the server goes away under the running statement...
    embedded.server_url(throwaway_pgdata)  # ...and comes back
    runner.join(timeout=60)
    assert not runner.is_alive()
    job.refresh_from_db()
    assert job.state == "failed", job.summary
    assert "lost the connection to staging" in job.summary
    assert "Applied and recorded before that: 20250101000000_create.sql" in job.summary
    assert history(target_url) == ["20250101000000"]  # the file in flight is not recorded
    again = start_apply(release, platform_lead)
    finished = job_execute(job_id=again.pk, worker="t")
    assert finished.state == "succeeded", finished.summary
    assert history(target_url) == ["20250101000000", "20250102000000"]
    with psycopg.connect(target_url) as conn:
        columns = conn.execute(
            "select column_name from information_schema.columns where table_name = 'notes' "
            "order by ordinal_position"
        ).fetchall()
    assert [c[0] for c in columns] == ["id", "body"]


def test_it_stops_waiting_for_a_lock_another_session_holds(release, platform_lead, target_url):
    # The same files without the sleep that lets the other test restart the server.
    files = {**FILES, SLOW: FILES[SLOW].removeprefix("select pg_sleep(4);\n")}
    release_upload_archive(
        release=release, data=supabase_archive(files), filename="s.zip", actor=platform_lead
    )
    first = job_execute(job_id=start_apply(release, platform_lead).pk, worker="t")
    assert first.state == "succeeded"
    files["migrations/20250103000000_add.sql"] = "alter table public.notes add column tag text;\n"
    release_upload_archive(
        release=release, data=supabase_archive(files), filename="s.zip", actor=platform_lead
    )
    with psycopg.connect(target_url) as holder:
        holder.execute("begin")
        holder.execute("lock table public.notes in access exclusive mode")
        job = job_execute(job_id=start_apply(release, platform_lead).pk, worker="t")
        holder.execute("rollback")
    assert job.state == "failed"
    assert "lock" in job.summary.lower()
    assert history(target_url) == ["20250101000000", "20250102000000"]
