"""The embedded default's broker, kombu's filesystem transport, with a real worker.

`make run` uses it when CELERY_BROKER_URL is unset: a job started in the portal is
picked up by the worker through files under PORTAL_DATA_DIR/broker and runs once.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import pytest
from django.db import connection

from checklists.services.migrations import release_upload_archive
from checklists.services.releases import release_create
from migrations_ops.jobs.services import job_enqueue
from migrations_ops.models import Job
from tests.factories import DEMO_MIGRATIONS, published_runbook, supabase_archive
from tests.migrations_ops.jobs.processes import Worker, reset_celery_pools, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@contextlib.contextmanager
def filesystem_broker(data_dir):
    from release_portal.celery import app as celery_app

    app: Any = celery_app
    folders = {
        "data_folder_in": str(data_dir / "broker" / "queue"),
        "data_folder_out": str(data_dir / "broker" / "queue"),
        "control_folder": str(data_dir / "broker" / "control"),
        "store_processed": False,
    }
    for key in ("data_folder_in", "control_folder"):
        os.makedirs(folders[key], exist_ok=True)
    saved = (os.environ.get("CELERY_BROKER_URL"), app.conf.broker_transport_options)
    os.environ["CELERY_BROKER_URL"] = "filesystem://"
    app.conf.broker_transport_options = folders
    reset_celery_pools()
    try:
        yield
    finally:
        if saved[0] is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved[0]
        app.conf.broker_transport_options = saved[1]
        reset_celery_pools()


def test_a_job_reaches_a_real_worker_through_the_filesystem_broker(
    tmp_path, project, platform_lead, settings
):
    import shutil

    # The folders the settings give the worker (PORTAL_DATA_DIR/broker), emptied first.
    data_dir = settings.DATA_DIR
    shutil.rmtree(data_dir / "broker", ignore_errors=True)
    published_runbook(project)
    release = release_create(
        project=project,
        title="fs",
        owner=platform_lead,
        commit_sha="a" * 40,
        created_by=platform_lead,
    )
    release_upload_archive(
        release=release,
        data=supabase_archive(DEMO_MIGRATIONS),
        filename="s.zip",
        actor=platform_lead,
    )
    worker = Worker(
        broker_url="filesystem://",
        database_name=connection.settings_dict["NAME"],
        log_path=tmp_path / "worker.log",
        env={"DJANGO_SETTINGS_MODULE": "tests.e2e.worker_settings"},
    )
    with filesystem_broker(data_dir):
        worker.start()
        try:
            job = job_enqueue(
                kind="order", project=project, release=release, created_by=platform_lead
            )
            wait_for(
                lambda: Job.objects.get(pk=job.pk).state in Job.FINAL_STATES,
                timeout=60,
                what="the worker to run the job",
            )
        finally:
            worker.stop()
    job.refresh_from_db()
    assert job.state == "succeeded", worker.log()[-3000:]
    assert job.attempts == 1
    assert worker.tasks_done() == 1
    assert list((data_dir / "broker" / "queue").iterdir()) == []  # read and deleted
