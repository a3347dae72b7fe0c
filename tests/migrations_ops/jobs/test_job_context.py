"""Building a runner's RunContext from a Job row."""

import pytest

from migrations_ops.jobs.context import job_run_context, secret_values
from migrations_ops.runners.base import RunnerError
from tests.migrations_ops.jobs.factories import MIGRATION, JobFactory, attach_bundle

STAGING_URL = "postgresql://app:pa%24%24word@db.example.com:5432/staging"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def context_for(job):
    return job_run_context(
        job,
        log=lambda stream, text: None,
        cancelled=lambda: False,
        scratch_created=lambda name: None,
        scratch_dropped=lambda name: None,
    )


def test_it_unpacks_the_release_bundle_into_a_workspace_removed_afterwards(
    project, release, staging, monkeypatch
):
    monkeypatch.setenv("JOBS_TEST_STAGING_URL", STAGING_URL)
    project.fixture_files = ["supabase/tests/fixtures/roles.sql"]
    project.schemas = ["app"]
    project.save()
    attach_bundle(
        release,
        {
            "supabase/migrations/20250101000000_notes.sql": MIGRATION,
            "supabase/tests/fixtures/roles.sql": "create role anon;",
        },
    )
    job = JobFactory(project=project, release=release, target=staging, kind="dry_run")
    with context_for(job) as ctx:
        root = ctx.repo_dir
        assert (ctx.supabase_dir / "migrations" / "20250101000000_notes.sql").read_text() == (
            MIGRATION
        )
        assert ctx.fixtures == [root.resolve() / "supabase/tests/fixtures/roles.sql"]
        assert ctx.fixtures[0].read_text() == "create role anon;"
        assert ctx.database_url == STAGING_URL
        assert ctx.target_name == "staging"
        assert ctx.schemas == ["app"]
    assert not root.exists()


def test_a_target_whose_variable_is_not_set_says_which_variable_to_set(
    project, release, staging, monkeypatch
):
    """ "no database URL for staging: set the environment variable named in the project's
    settings": the engineer went looking for the settings page to learn its name."""
    monkeypatch.delenv("JOBS_TEST_STAGING_URL", raising=False)
    attach_bundle(release)
    job = JobFactory(project=project, release=release, target=staging, kind="order")
    with context_for(job) as ctx, pytest.raises(RunnerError) as refused:
        ctx.connect()
    assert str(refused.value) == (
        "no database URL for staging: set JOBS_TEST_STAGING_URL where the portal and its "
        "workers run"
    )


def test_a_release_without_migrations_is_a_runner_error_saying_what_to_do(project, release):
    job = JobFactory(project=project, release=release)
    with pytest.raises(RunnerError, match="upload its supabase/ folder"), context_for(job):
        pass


def test_a_fixture_path_may_not_leave_the_workspace(project, release):
    project.fixture_files = ["../../etc/passwd"]
    project.save()
    attach_bundle(release)
    job = JobFactory(project=project, release=release)
    with pytest.raises(RunnerError, match="points outside the repository"), context_for(job):
        pass


def test_each_kind_gets_its_project_settings_as_options(project):
    project.check_commands = [["pnpm", "run", "lint"]]
    project.command_env_names = ["NODE_ENV"]
    project.command_timeout_seconds = 120
    project.required_secret_names = ["SUPABASE_ACCESS_TOKEN"]
    project.save()
    with context_for(JobFactory(project=project, kind="commands")) as ctx:
        assert ctx.options == {
            "commands": [["pnpm", "run", "lint"]],
            "env_names": ["NODE_ENV"],
            "timeout_seconds": 120,
        }
    with context_for(JobFactory(project=project, kind="secrets")) as ctx:
        assert ctx.options == {"required": ["SUPABASE_ACCESS_TOKEN"]}


def test_job_parameters_merge_in_but_cannot_change_the_allow_list(project):
    project.check_commands = [["pnpm", "run", "lint"]]
    project.save()
    job = JobFactory(
        project=project,
        kind="commands",
        params={"timeout_seconds": 30, "commands": [["rm", "-rf", "/"]], "only": "lint"},
    )
    with context_for(job) as ctx:
        assert ctx.options["commands"] == [["pnpm", "run", "lint"]]
        assert ctx.options["timeout_seconds"] == 30
        assert ctx.options["only"] == "lint"


def test_the_url_its_password_and_named_secrets_are_redacted(project, monkeypatch):
    monkeypatch.setenv("SUPABASE_ACCESS_TOKEN", "sbp_0123456789abcdef")
    project.required_secret_names = ["SUPABASE_ACCESS_TOKEN", "UNSET_SECRET_NAME"]
    project.save()
    values = secret_values(JobFactory(project=project), STAGING_URL)
    assert {STAGING_URL, "pa%24%24word", "pa$$word", "sbp_0123456789abcdef"} <= set(values)
