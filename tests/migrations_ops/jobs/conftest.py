from __future__ import annotations

import pytest

from migrations_ops.jobs import dispatch, hooks
from migrations_ops.models import Job
from tests.migrations_ops.jobs.factories import ReleaseFactory, StagingFactory

SAMPLE = "tests.migrations_ops.jobs.sample_runner"


@pytest.fixture
def staging(project):
    return StagingFactory(project=project)


@pytest.fixture
def release(project, staging):
    return ReleaseFactory(project=project)


@pytest.fixture
def sample_runner(settings):
    """Every job kind runs the sample runner."""
    settings.JOB_RUNNER_MODULES = {kind: SAMPLE for kind in Job.Kind.values}
    return SAMPLE


@pytest.fixture
def sent(monkeypatch):
    """Messages "sent" to Celery: (job_id, kind, queue), in order."""
    calls = []
    monkeypatch.setattr(
        dispatch, "job_send", lambda *, job_id, kind, queue: calls.append((job_id, kind, queue))
    )
    return calls


@pytest.fixture
def finished_signals():
    """(job id, state) of every job end the engine's end hooks heard during the test."""
    seen = []

    def hook(job):
        seen.append((job.pk, job.state))

    hooks.on_job_end("test.finished", hook)
    yield seen
    hooks.remove_job_end("test.finished")
