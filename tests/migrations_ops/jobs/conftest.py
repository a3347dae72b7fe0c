from __future__ import annotations

import pytest

from migrations_ops.jobs import dispatch
from migrations_ops.models import Job
from migrations_ops.signals import job_finished
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
    """(job id, state) of every job_finished signal sent during the test."""
    seen = []

    def receiver(sender, job, **kwargs):
        seen.append((job.pk, job.state))

    job_finished.connect(receiver)
    yield seen
    job_finished.disconnect(receiver)
