"""Nothing a job reads lies outside the content digest (issue 13, deliverable 2).

The runners read the release's files only through their RunContext: the workspace
(``repo_dir``/``supabase_dir``: migrations, down scripts, RLS tests, config.toml, and
everything the check commands run in it), ``fixtures`` and the ``seed_files`` option.
This enumerates what each kind's context offers, and what a real runner opens, and
compares it with the pinned bundle's listing, which its digest covers.
"""

import sys
from pathlib import Path

import pytest

from checklists.bundles import contents_digest
from migrations_ops.jobs.context import job_run_context
from migrations_ops.jobs.kinds import KINDS
from migrations_ops.runners import get_runner
from tests.migrations_ops.jobs.factories import MIGRATION, JobFactory, attach_bundle

FILES = {
    "supabase/migrations/20250101000000_notes.sql": MIGRATION,
    "supabase/rollbacks/20250101000000_notes.sql": "drop table app.notes;\n",
    "supabase/tests/notes_test.sql": "select plan(1); select ok(true);\n",
    "supabase/tests/fixtures/roles.sql": "create role anon;\n",
    "supabase/seed.sql": "insert into app.notes values (1);\n",
    "supabase/config.toml": 'project_id = "x"\n',
    "supabase/scripts/check.sh": "echo ok\n",
}
# The kinds that read a release's files and prove something about them.
FILE_KINDS = [
    k for k, spec in KINDS.items() if spec.pins_bundle and not spec.gated and not spec.needs_target
]


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def bundled(project, release, staging, monkeypatch):
    monkeypatch.setenv("JOBS_TEST_STAGING_URL", "postgresql://u:p@127.0.0.1:1/none")
    project.fixture_files = ["supabase/tests/fixtures/roles.sql"]
    project.seed_files = ["supabase/seed.sql"]
    project.save()
    return attach_bundle(release, FILES)


def context_for(job):
    return job_run_context(
        job,
        log=lambda stream, text: None,
        cancelled=lambda: False,
        scratch_created=lambda name: None,
        scratch_dropped=lambda name: None,
    )


def offered(ctx) -> set[Path]:
    """Every file the context lets a runner (or the commands it starts) read."""
    root = Path(ctx.repo_dir)
    paths = {p for p in root.rglob("*") if p.is_file()}
    paths |= {Path(p) for p in ctx.fixtures}
    paths |= {Path(p) for p in ctx.options.get("seed_files", [])}
    return {p.resolve() for p in paths}


@pytest.mark.parametrize("kind", FILE_KINDS)
def test_every_file_a_jobs_context_offers_is_in_the_digest(kind, project, bundled, staging):
    bundle = bundled.bundle
    listed = {f["path"] for f in bundle.files}
    assert contents_digest(bundle.files) == bundle.digest
    job = JobFactory(project=project, release=bundled, target=staging, kind=kind)
    assert job.bundle_id == bundle.pk
    with context_for(job) as ctx:
        root = Path(ctx.repo_dir).resolve()
        read = {str(p.relative_to(root)) for p in offered(ctx)}
    assert read == listed == set(FILES)


def test_the_files_the_order_runner_reads_are_in_the_digest(project, bundled):
    job = JobFactory(project=project, release=bundled, kind="order")
    opened: list[str] = []
    recording = [False]

    def hook(event, args):
        reads = ("open", "os.listdir", "os.scandir")
        if recording[0] and event in reads and args and isinstance(args[0], str | Path):
            opened.append(str(args[0]))

    sys.addaudithook(hook)
    with context_for(job) as ctx:
        root = Path(ctx.repo_dir).resolve()
        recording[0] = True
        try:
            result = get_runner("order")(ctx)
        finally:
            recording[0] = False
        # A folder it lists counts as every file in it (it reads their names).
        read = {Path(p).resolve() for p in opened}
        read = {f for p in read for f in ([*p.iterdir()] if p.is_dir() else [p]) if f.is_file()}
        inside = {str(p.relative_to(root)) for p in read if p.is_relative_to(root)}
    assert result.ok, result.summary
    assert inside, "the order runner read no file of the bundle"
    assert inside <= {f["path"] for f in bundled.bundle.files}
