"""Personas and shared fixtures.

``project`` is the project everyone below works in; ``outsider`` is a platform lead of
another project, who must see none of this one (404s, never 403s).
"""

from __future__ import annotations

import pytest

from release_portal.accounts.roles import Role
from tests.factories import PASSWORD, MembershipFactory, ProjectFactory, UserFactory


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Real hashing costs ~0.3 s a password; tests create dozens of users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def project(db):
    return ProjectFactory(name="Ibimina", slug="ibimina")


@pytest.fixture
def other_project(db):
    return ProjectFactory(name="Other team", slug="other-team")


def _member(project, username: str, role: Role):
    user = UserFactory(username=username)
    MembershipFactory(user=user, project=project, role=role)
    return user


@pytest.fixture
def platform_lead(project):
    return _member(project, "lead", Role.PLATFORM_LEAD)


@pytest.fixture
def release_engineer(project):
    return _member(project, "releng", Role.RELEASE_ENGINEER)


@pytest.fixture
def qa_lead(project):
    return _member(project, "qa", Role.QA_LEAD)


@pytest.fixture
def sre(project):
    return _member(project, "sre", Role.SRE)


@pytest.fixture
def auditor(project):
    return _member(project, "auditor", Role.AUDITOR)


@pytest.fixture
def outsider(other_project):
    return _member(other_project, "outsider", Role.PLATFORM_LEAD)


@pytest.fixture
def personas(platform_lead, release_engineer, qa_lead, sre, auditor, outsider):
    return {
        "platform_lead": platform_lead,
        "release_engineer": release_engineer,
        "qa_lead": qa_lead,
        "sre": sre,
        "auditor": auditor,
        "outsider": outsider,
    }


@pytest.fixture
def throwaway_pgdata():
    """A folder for a throwaway embedded server, stopped and removed afterwards.

    Not under pytest's tmp_path: pytest keeps that tree private to root (0700), and as
    root the wheel runs the server as its own user, who must reach the folder.
    """
    import shutil
    import tempfile
    from pathlib import Path

    from release_portal import embedded

    folder = Path(tempfile.mkdtemp(prefix="rp_pg_"))  # short: the socket lives inside
    folder.chmod(0o755)
    pgdata = folder / "pg"
    try:
        yield pgdata
    finally:
        embedded.stop(pgdata)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def sandbox():
    """An open job sandbox as the settings make it (bwrap in CI: its own PostgreSQL)."""
    from migrations_ops.pg.job_sandbox import open_sandbox

    with open_sandbox(purpose="test") as opened:
        yield opened
