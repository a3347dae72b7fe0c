"""manage.py runbook_import FILE --project SLUG [--publish --notes TEXT --as USERNAME]"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from checklists.models import RunbookVersion
from tests.checklists.runbooks.conftest import FIXTURES

RUNBOOK = str(FIXTURES / "runbook_v1.md")


def run(*args):
    out = StringIO()
    call_command("runbook_import", *args, stdout=out)
    return out.getvalue()


def test_it_imports_a_draft(project):
    out = run(RUNBOOK, "--project", project.slug)
    version = RunbookVersion.objects.get(project=project)
    assert version.status == "draft" and version.imported_by is None
    assert "ibimina: v1 “Database Migration Runbook” (draft), 13 steps" in out
    assert "line 44: supabase migration up --linked --include-all --dry-run" in out


def test_it_publishes_as_a_platform_lead(project, platform_lead):
    run(RUNBOOK, "--project", project.slug, "--publish", "--notes", "From CI", "--as", "lead")
    version = RunbookVersion.objects.get(project=project)
    assert version.status == "published" and version.published_by == platform_lead
    assert version.history[-1]["notes"] == "From CI"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--project", "nope"], "No project"),
        (["--project", "ibimina", "--publish"], "needs --notes"),
        (["--project", "ibimina", "--as", "qa"], "not a platform lead"),
        (["--project", "ibimina", "--as", "ghost"], "No user"),
    ],
)
def test_it_refuses_what_it_cannot_do(project, qa_lead, args, message):
    with pytest.raises(CommandError, match=message):
        run(RUNBOOK, *args)
    assert not RunbookVersion.objects.exists()


def test_it_reports_a_bad_file(project, tmp_path):
    bad = tmp_path / "bad.md"
    bad.write_bytes(b"# Nothing to tick\n")
    with pytest.raises(CommandError, match="No checklist found"):
        run(str(bad), "--project", project.slug)
