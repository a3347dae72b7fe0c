"""The portal's own variables are one list in settings, and pg tools get an allow-list.

``is_portal_variable`` decides for the commands runner, the target rule and the check
command settings; ``pgtools.libpq_env`` hands psql and pg_dump nothing of the worker's
environment but a fixed PATH, the locale, the time zone and the URL's own parameters.
"""

from __future__ import annotations

import subprocess

import pytest

from migrations_ops.pg import pgtools
from migrations_ops.pg.environment import TOOL_PATH, is_portal_variable
from migrations_ops.runners.base import RunContext, RunnerError
from migrations_ops.runners.commands import run as run_commands

PORTALS_OWN = [
    "DATABASE_URL",
    "SECRET_KEY",
    "DJANGO_SECRET_KEY",
    "AUDIT_HMAC_KEY",
    "AUDIT_SIGNING_KEY",
    "SCRATCH_DATABASE_URL",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "REDIS_URL",
    "EMAIL_HOST_PASSWORD",
    "EMAIL_HOST_USER",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "BACKUP_S3_SECRET_ACCESS_KEY",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGSERVICEFILE",
    "pgpassword",  # libpq reads only capitals, but no letter case slips through
    "PORTAL_TARGET_VARS",
]
PROJECTS_OWN = ["DEMO_STAGING_DATABASE_URL", "SUPABASE_ACCESS_TOKEN", "SHOP_API_KEY", "NODE_ENV"]


@pytest.mark.parametrize("name", PORTALS_OWN)
def test_it_knows_the_portals_own_variables(name):
    assert is_portal_variable(name)


@pytest.mark.parametrize("name", PROJECTS_OWN)
def test_it_leaves_a_projects_variables_alone(name):
    assert not is_portal_variable(name)


def test_the_list_is_the_setting(settings):
    settings.PORTAL_OWN_VARIABLES = [*settings.PORTAL_OWN_VARIABLES, "SENTRY_*"]
    assert is_portal_variable("SENTRY_DSN")


@pytest.mark.parametrize(
    "name", ["AWS_SECRET_ACCESS_KEY", "BACKUP_S3_SECRET_ACCESS_KEY", "AUDIT_SIGNING_KEY", "PGHOST"]
)
def test_check_commands_are_never_given_one(tmp_path, sandbox, name):
    sandbox.add_content(tmp_path)
    ctx = RunContext(
        repo_dir=tmp_path,
        options={"commands": [["/usr/bin/true"]], "env_names": [name]},
        sandbox=sandbox,
    )
    with pytest.raises(RunnerError, match=f"^{name} is one of the portal's own variables"):
        run_commands(ctx)


WORKER_ENV = {
    "SECRET_KEY": "portal-secret-key",
    "AUDIT_HMAC_KEY": "portal-hmac-key",
    "SHOP_PRODUCTION_DATABASE_URL": "postgresql://shop:pw@shop.example.com/prod",
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
    "PGPASSFILE": "/root/.pgpass",
    "PGSERVICE": "portal",
    "HOME": "/root",
    "LD_PRELOAD": "/tmp/evil.so",
    "PATH": "/tmp/evil-bin:/usr/bin",
    "LANG": "en_GB.UTF-8",
    "TZ": "Africa/Kigali",
}


def test_pg_tools_get_only_the_allow_list_and_the_urls_parameters(monkeypatch):
    for name, value in WORKER_ENV.items():
        monkeypatch.setenv(name, value)
    url = (
        "postgresql://app:pa%24%24@db.example.com:6543/staging"
        "?sslmode=require&application_name=rp&require_auth=scram-sha-256"
    )

    env = pgtools.libpq_env(url)

    assert env == {
        "PATH": TOOL_PATH,
        "LANG": "en_GB.UTF-8",
        "TZ": "Africa/Kigali",
        "PGHOST": "db.example.com",
        "PGPORT": "6543",
        "PGUSER": "app",
        "PGPASSWORD": "pa$$",
        "PGDATABASE": "staging",
        "PGSSLMODE": "require",
        "PGAPPNAME": "rp",
        "PGREQUIREAUTH": "scram-sha-256",
        "PGCONNECT_TIMEOUT": "10",
    }


def test_a_pg_tool_works_with_nothing_else(monkeypatch):
    for name, value in WORKER_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("LANG")
    url = pgtools.with_database(pgtools.portal_server_url(), "postgres")
    env = pgtools.libpq_env(url + ("&" if "?" in url else "?") + "application_name=rp-env-test")
    psql = pgtools.find_tool("psql")

    out = subprocess.run(
        [psql.path, "-X", "-At", "-c", "show application_name"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )

    assert out.stdout.strip() == "rp-env-test"
    assert env["LANG"] == "C.UTF-8"  # a UTF-8 locale when the worker names none
