"""Settings from the environment, the deploy check and the embedded server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from release_portal import embedded

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION_ENV = {
    "DATABASE_URL": "postgresql://portal:secret@db.example.com:5432/portal",
    "CELERY_BROKER_URL": "redis://redis.example.com:6379/0",
    "SECRET_KEY": "k3y-" + "a8Zq1Xw9" * 8,
    "AUDIT_HMAC_KEY": "h" * 64,
    "AUDIT_SIGNING_KEY": (
        "-----BEGIN PRIVATE KEY-----\n"
        "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
        "-----END PRIVATE KEY-----\n"
    ),
    "ALLOWED_HOSTS": "releases.example.com",
    "DEBUG": "0",
    "EMAIL_HOST": "smtp.example.com",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV and k != "HTTPS"}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_it_passes_check_deploy_with_production_values():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "AUDIT_SIGNING_KEY is not set"),
        ("not a key", "AUDIT_SIGNING_KEY is not a readable PEM private key"),
    ],
)
def test_check_deploy_needs_the_key_that_signs_the_change_log(key, message):
    result = manage("check", "--deploy", env={**PRODUCTION_ENV, "AUDIT_SIGNING_KEY": key})
    assert result.returncode != 0
    assert (
        "audit.E001" in result.stderr + result.stdout and message in result.stderr + result.stdout
    )
    # Without --deploy (e.g. migrate on a fresh machine) the key is not needed yet.
    assert manage("check", env={**PRODUCTION_ENV, "AUDIT_SIGNING_KEY": key}).returncode == 0


def test_it_generates_the_signing_key_into_the_data_folder_in_debug(tmp_path):
    env = {
        **PRODUCTION_ENV,
        "PORTAL_DATA_DIR": str(tmp_path),
        "DEBUG": "1",
        "AUDIT_SIGNING_KEY": "",
    }
    show = "from django.conf import settings; print(settings.AUDIT_SIGNING_KEY)"
    first = manage("shell", "--no-imports", "-c", show, env=env)
    key_file = tmp_path / "audit_signing_key.pem"
    assert key_file.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    # Kept: the next start signs with the same key.
    assert manage("shell", "--no-imports", "-c", show, env=env).stdout == first.stdout
    assert first.stdout.strip() == key_file.read_text().strip()


def test_it_fails_check_deploy_when_https_is_turned_off():
    # The same check must be able to fail: plain HTTP in production is a warning.
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", env={**PRODUCTION_ENV, "HTTPS": "0"}
    )
    assert result.returncode != 0
    assert "SECURE_SSL_REDIRECT" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_URL": "sqlite:///db.sqlite3"}, "must be a PostgreSQL URL"),
        ({"SECRET_KEY": ""}, "SECRET_KEY must be set"),
        ({"AUDIT_HMAC_KEY": ""}, "AUDIT_HMAC_KEY must be set"),
        ({"DEBUG": "maybe"}, "DEBUG must be 1/0"),
        ({"PORT": "eighty"}, "PORT must be a whole number"),
    ],
)
def test_it_refuses_bad_settings_with_a_clear_message(env, message):
    result = manage("check", env={**PRODUCTION_ENV, **env})
    assert result.returncode != 0
    assert message in result.stderr


def test_it_uses_the_filesystem_broker_when_none_is_configured(tmp_path):
    env = {"PORTAL_DATA_DIR": str(tmp_path), "DEBUG": "1"}
    result = manage(
        "shell", "--no-imports", "-c",
        "from django.conf import settings; print(settings.CELERY_BROKER_URL); "
        "print(settings.CELERY_BROKER_TRANSPORT_OPTIONS['data_folder_in'])",
        env={**env, "CELERY_BROKER_URL": "", "DATABASE_URL": PRODUCTION_ENV["DATABASE_URL"]},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split()
    assert lines[0] == "filesystem://"
    assert lines[1] == str(tmp_path / "broker" / "queue")


@pytest.mark.parametrize(
    ("value", "options"),
    [
        ("", "{'server_side_binding': True, 'prepare_threshold': 5}"),
        ("0", "{}"),
    ],
)
def test_it_prepares_statements_unless_told_not_to(value, options):
    # Off is for a pooler in transaction mode, which cannot keep prepared statements.
    env = {**PRODUCTION_ENV, "DATABASE_PREPARED_STATEMENTS": value}
    result = manage(
        "shell", "--no-imports", "-c",
        "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS'])",
        env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == options


@pytest.mark.django_db
def test_postgresql_plans_a_repeated_query_once_per_connection(django_user_model):
    """The page's queries run prepared after a few uses: PostgreSQL keeps their plan in
    the session (pg_prepared_statements) instead of planning each request again."""
    from django.conf import settings
    from django.db import connection

    def prepared() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
                ["%auth_user%username%"],
            )
            return cursor.fetchone()[0]

    before = prepared()
    for n in range(settings.PREPARE_THRESHOLD + 1):
        django_user_model.objects.filter(username=f"nobody-{n}").first()

    assert prepared() == before + 1


def test_it_starts_an_embedded_server_and_reuses_it(throwaway_pgdata):
    # A throwaway embedded server of our own: never the shared ones.
    pgdata = throwaway_pgdata
    try:
        url = embedded.server_url(pgdata)
        with psycopg.connect(url) as conn:
            first_pid = conn.execute("SELECT pg_backend_pid()").fetchone()
            version = conn.execute("SHOW server_version_num").fetchone()[0]
        assert int(version) >= 180000
        postmaster = (pgdata / "postmaster.pid").read_text().split()[0]
        # A second call (the next `make run`) finds the same server running.
        assert embedded.server_url(pgdata) == url
        assert (pgdata / "postmaster.pid").read_text().split()[0] == postmaster
        embedded.ensure_database(pgdata, "portal_x")
        with psycopg.connect(embedded.server_url(pgdata, "portal_x")) as conn:
            assert conn.execute("SELECT current_database()").fetchone()[0] == "portal_x"
        assert first_pid
    finally:
        embedded.stop(pgdata)
    assert not (pgdata / "postmaster.pid").exists()


def test_make_stop_db_stops_the_server_of_the_data_dir_it_is_given(throwaway_pgdata):
    """`PORTAL_DATA_DIR=/x make run` started its server in /x/pg; `make stop-db` stopped
    only .local/pg's, and said nothing of the one left running."""
    embedded.server_url(throwaway_pgdata)
    assert (throwaway_pgdata / "postmaster.pid").exists()
    done = subprocess.run(
        ["make", "--no-print-directory", "stop-db"],
        cwd=Path(__file__).resolve().parents[1],
        env={**os.environ, "PORTAL_DATA_DIR": str(throwaway_pgdata.parent)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"Stopped the embedded PostgreSQL in {throwaway_pgdata}."
    assert not (throwaway_pgdata / "postmaster.pid").exists()


def test_the_embedded_wheel_ships_the_client_tools():
    for tool in ("psql", "pg_dump", "pg_restore", "pg_ctl"):
        assert (embedded.bin_dir() / tool).exists(), tool
