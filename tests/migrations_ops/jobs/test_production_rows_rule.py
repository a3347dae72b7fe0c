"""The one rule (``migrations_ops.jobs.output``): what a job over production's rows wrote
is read by those who may download the project's backups, and by no API token; every
other job's output by every member. And the live log follows it while the job runs."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from migrations_ops.jobs.kinds import KINDS
from migrations_ops.jobs.output import may_read_output
from migrations_ops.models import Job
from release_portal.accounts.roles import ALLOWED, Action, Role
from release_portal.api.tokens import token_create
from tests.migrations_ops.jobs.factories import JobFactory, add_log_lines

pytestmark = pytest.mark.django_db

MEMBERS = {
    "platform_lead": Role.PLATFORM_LEAD,
    "release_engineer": Role.RELEASE_ENGINEER,
    "qa_lead": Role.QA_LEAD,
    "sre": Role.SRE,
    "auditor": Role.AUDITOR,
}
MARKER = "carol-91e0@example.com"


def test_the_kinds_that_restore_production_are_marked():
    marked = {kind for kind, spec in KINDS.items() if spec.holds_production_rows}
    assert marked == {Job.Kind.RESTORE_CHECK, Job.Kind.REHEARSAL}


@pytest.mark.parametrize("kind", [Job.Kind.RESTORE_CHECK, Job.Kind.REHEARSAL, Job.Kind.DRY_RUN])
def test_who_reads_a_jobs_output(personas, project, release, platform_lead, kind):
    job = JobFactory(project=project, release=release, kind=kind, state="failed")
    holds = KINDS[kind].holds_production_rows
    for name, role in MEMBERS.items():
        expected = not holds or role in ALLOWED[Action.DOWNLOAD_BACKUP]
        assert may_read_output(personas[name], job) is expected, (name, kind)
    # A member of another project reads nothing of it (its pages answer 404 first).
    assert may_read_output(personas["outsider"], job) is not holds
    token = token_create(
        project=project, name="ci", scopes=["read", "report", "deploy"], user=platform_lead
    )
    assert may_read_output(token.token, job) is not holds


def _lines(html: str) -> list[str]:
    return re.findall(r'<span class="line [a-z]+[^"]*">(.*?)</span>', html)


@pytest.mark.parametrize("who", ["sre", "auditor"])
def test_a_running_rehearsals_live_log_reaches_only_those_who_read_it(
    client, personas, project, release, staging, who
):
    job = JobFactory(
        project=project, release=release, target=staging, kind="rehearsal",
        state=Job.State.RUNNING, started_at=timezone.now(), attempts=1,
    )  # fmt: skip
    add_log_lines(job, 2, text=f"seen {MARKER} {{n}}")
    client.force_login(personas[who])
    page = client.get(reverse("job_detail", args=[job.pk])).content.decode()
    poll = client.get(reverse("job_log", args=[job.pk]) + "?after=0")
    assert poll.status_code == 200  # still running: the page keeps polling
    html = poll.content.decode()
    # Either way the poll moves on past the lines it read.
    assert f"?after={job.log_count}" in html
    if who == "sre":
        assert MARKER in page and _lines(html) == [f"seen {MARKER} 1", f"seen {MARKER} 2"]
    else:
        assert MARKER not in page and MARKER not in html and _lines(html) == []
        assert "data-output-withheld" in page
