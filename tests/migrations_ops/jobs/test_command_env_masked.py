"""The values of variables a check command is given never reach its job's log or result.

A script in the bundle (untrusted) prints what it was given, in the ways output gets
mangled on its way to the log: plain, in the middle of a line past the length the log
keeps, split by terminal codes, a multi-line value line by line, and as its last lines
(which the result keeps as the command's tail).
"""

from __future__ import annotations

import pytest

from migrations_ops.jobs.engine import job_execute
from migrations_ops.jobs.services import job_enqueue
from migrations_ops.jobs.worklog import MAX_LINE_CHARS
from migrations_ops.models import Job, JobLogLine
from tests.migrations_ops.jobs.factories import attach_bundle

TOKEN = "ci-token-6f1d0c2a9b8e7d6c"
PEM = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0\nQEFAASCBKcwggSjAgEAAoIB\n-----END KEY-----"
SECRET_NAME = "DEPLOY_KEY_FOR_TESTS"

PRINTER = f"""\
import os, sys
token = os.environ["CHECK_TOKEN"]
key = os.environ["{SECRET_NAME}"]
print("token:", token)
print("x" * ({MAX_LINE_CHARS} - 12) + token)
print(token[:6] + "\\x1b[31m" + token[6:])
print(key)
sys.stderr.write("last: " + token + "\\n")
sys.exit(1)
"""


@pytest.fixture
def commands_job(project, release, monkeypatch, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    monkeypatch.setenv("CHECK_TOKEN", TOKEN)
    monkeypatch.setenv(SECRET_NAME, PEM)
    project.check_commands = [["python3", "supabase/scripts/print_env.py"]]
    project.command_env_names = ["CHECK_TOKEN", SECRET_NAME]
    project.required_secret_names = [SECRET_NAME]
    project.save()
    attach_bundle(
        release,
        {
            "supabase/migrations/20250101000000_notes.sql": "select 1;\n",
            "supabase/scripts/print_env.py": PRINTER,
        },
    )
    return job_enqueue(kind=Job.Kind.COMMANDS, project=project, release=release)


@pytest.mark.django_db(transaction=True)
def test_it_masks_every_value_passed_to_a_check_command(commands_job):
    job = job_execute(job_id=commands_job.pk, worker="t")

    assert job.state == Job.State.FAILED  # the script exits 1: it did run
    log = "\n".join(JobLogLine.objects.filter(job=job).values_list("text", flat=True))
    assert "token: [redacted]" in log
    stored = {"log": log, "summary": job.summary, "error": job.error, "result": str(job.result)}
    leaks = [
        (where, value)
        for where, text in stored.items()
        for value in [TOKEN, TOKEN[:12], *PEM.splitlines()]  # TOKEN[:12]: cut by the line limit
        if value in text
    ]
    assert leaks == [], leaks
