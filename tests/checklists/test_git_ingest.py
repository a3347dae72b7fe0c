"""Reading a release's supabase/ folder from the project's git checkout at its commit."""

import subprocess

import pytest

from checklists.bundles import BundleError
from checklists.services.errors import ChecklistError
from checklists.services.migrations import release_read_git
from checklists.services.releases import release_create
from tests.factories import published_runbook


def git(repo, *args):
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        text=True,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@x",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@x",
            "HOME": str(repo),
            "PATH": "/usr/bin:/bin",
        },
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    repo = tmp_path / "app"
    (repo / "supabase" / "migrations").mkdir(parents=True)
    git(repo, "init", "-q")
    (repo / "supabase/migrations/20250101000000_a.sql").write_text("create table a (id int);\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first")
    first = git(repo, "rev-parse", "HEAD")
    (repo / "supabase/migrations/20250102000000_b.sql").write_text("create table b (id int);\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "second")
    return repo, first, git(repo, "rev-parse", "HEAD")


@pytest.fixture
def git_project(project, repo):
    project.migrations_source = "git"
    project.repo_path = str(repo[0])
    project.save()
    published_runbook(project)
    return project


def test_it_reads_the_files_at_the_releases_commit(git_project, repo, platform_lead):
    _, first, second = repo
    release = release_create(
        project=git_project,
        title="g",
        owner=platform_lead,
        commit_sha=first,
        created_by=platform_lead,
    )
    result = release_read_git(release=release, actor=platform_lead)
    assert result.added == ["20250101000000_a.sql"]
    # Moving to the merge commit reads again; what changed is reported.
    result = release_read_git(release=release, actor=platform_lead, commit_sha=second)
    assert result.added == ["20250102000000_b.sql"]
    release.refresh_from_db()
    assert release.commit_sha == second and release.migrations_source == "git"


def test_a_commit_that_is_not_there_is_a_clear_error(git_project, platform_lead):
    release = release_create(
        project=git_project,
        title="g",
        owner=platform_lead,
        commit_sha="e" * 40,
        created_by=platform_lead,
    )
    with pytest.raises(BundleError, match="fetch it first"):
        release_read_git(release=release, actor=platform_lead)
    assert release.migration_files.count() == 0


def test_a_project_without_a_checkout_says_so(project, platform_lead):
    published_runbook(project)
    release = release_create(
        project=project,
        title="g",
        owner=platform_lead,
        commit_sha="e" * 40,
        created_by=platform_lead,
    )
    with pytest.raises(ChecklistError, match="no git checkout configured"):
        release_read_git(release=release, actor=platform_lead)
