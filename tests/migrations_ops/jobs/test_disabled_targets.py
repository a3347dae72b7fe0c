"""A target the target rule refuses is disabled: offered with its reason, never used.

The operator's PORTAL_TARGET_VARS gives project ibimina only IBIMINA_* variables, so its
staging target (JOBS_TEST_STAGING_URL, from before the rule) is disabled.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from migrations_ops.jobs.engine import job_execute
from migrations_ops.jobs.services import job_enqueue
from migrations_ops.models import Job, JobLogLine
from migrations_ops.runners.base import RunnerError
from tests.migrations_ops.jobs.factories import attach_bundle
from tests.migrations_ops.jobs.test_job_context import context_for

PASSWORD = "staging-pw-5e1f"
REASON = (
    "the target staging is disabled: JOBS_TEST_STAGING_URL is not among the variables "
    "PORTAL_TARGET_VARS allows for project ibimina (IBIMINA_*)"
)


@pytest.fixture
def rule(settings):
    settings.PORTAL_TARGET_VARS = {"ibimina": ["IBIMINA_*"]}


@pytest.fixture(autouse=True)
def _staging_url(monkeypatch):
    monkeypatch.setenv("JOBS_TEST_STAGING_URL", f"postgresql://app:{PASSWORD}@127.0.0.1:1/app")


@pytest.fixture
def bundled(release, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return attach_bundle(release)


def notices(response):
    return " ".join(str(m) for m in response.context["messages"])


def test_it_is_offered_with_its_reason(client, platform_lead, release, staging, rule):
    client.force_login(platform_lead)
    html = client.get(reverse("release_jobs", kwargs={"pk": release.pk})).content.decode()
    assert "staging (disabled: not allowed for this project by PORTAL_TARGET_VARS)" in html


def test_starting_a_job_on_it_is_refused_saying_why(
    client, platform_lead, release, staging, rule, sent
):
    client.force_login(platform_lead)
    start = reverse("release_job_start", kwargs={"pk": release.pk})
    chosen = client.post(start, {"kind": "dry_run", "target": staging.pk}, follow=True)
    assert "The " + REASON.removeprefix("the ") in notices(chosen)
    by_default = client.post(start, {"kind": "dry_run"}, follow=True)  # staging, by default
    assert REASON in notices(by_default)
    preflight = client.post(reverse("release_preflight", kwargs={"pk": release.pk}), follow=True)
    assert REASON in notices(preflight)
    assert not Job.objects.exists() and sent == []


def test_it_is_refused_where_migrations_are_applied(
    client, platform_lead, release, staging, rule, sent
):
    client.force_login(platform_lead)
    response = client.post(
        reverse("release_apply", kwargs={"pk": release.pk}), {"target": staging.pk}, follow=True
    )
    assert "The " + REASON.removeprefix("the ") in notices(response)
    assert not Job.objects.exists()


def test_a_job_queued_before_the_rule_fails_saying_why(
    project, release, bundled, staging, sample_runner, settings
):
    job = job_enqueue(
        kind="dry_run", project=project, release=release, target=staging,
        params={"say_url": True},
    )  # fmt: skip
    settings.PORTAL_TARGET_VARS = {"ibimina": ["IBIMINA_*"]}

    job = job_execute(job_id=job.pk, worker="t")

    assert job.state == Job.State.FAILED
    assert job.summary.startswith(REASON)
    assert "ask the operator to add it to PORTAL_TARGET_VARS for project ibimina" in job.summary
    log = "\n".join(JobLogLine.objects.filter(job=job).values_list("text", flat=True))
    assert REASON in log
    assert PASSWORD not in log and "connecting to" not in log  # the runner never ran


def test_check_commands_are_never_given_a_targets_variable(client, platform_lead, project, staging):
    client.force_login(platform_lead)
    data = {
        "migrations_source": "upload", "supabase_dir": "supabase", "schemas": "public",
        "rollbacks_dir": "supabase/rollbacks", "command_timeout_seconds": 600,
        "dry_run_data_max_mb": 50, "check_commands": "pnpm run lint", "backup_max_age_hours": 24,
        "command_env_names": "NODE_ENV JOBS_TEST_STAGING_URL SECRET_KEY",
    }  # fmt: skip
    response = client.post(reverse("project_settings", args=[project.slug]), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert "JOBS_TEST_STAGING_URL holds a target&#x27;s database URL" in html
    assert "SECRET_KEY is one of the portal&#x27;s own variables" in html
    project.refresh_from_db()
    assert project.command_env_names == []

    data["command_env_names"] = "NODE_ENV"
    response = client.post(reverse("project_settings", args=[project.slug]), data)
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.command_env_names == ["NODE_ENV"]


def test_a_commands_job_refuses_a_targets_variable_saved_before(project, release, bundled, staging):
    project.command_env_names = ["JOBS_TEST_STAGING_URL"]
    project.save()
    job = job_enqueue(kind="commands", project=project, release=release)
    with (
        pytest.raises(RunnerError, match="JOBS_TEST_STAGING_URL holds a target's database URL"),
        context_for(job),
    ):
        pass
