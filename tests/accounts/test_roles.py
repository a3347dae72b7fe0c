import pytest

from release_portal.accounts.roles import ALLOWED, Action, Role, can, roles_in


@pytest.mark.parametrize("action", list(Action))
def test_can_follows_the_declared_table(personas, project, action):
    for key, user in personas.items():
        if key == "outsider":
            assert not can(user, action, project)
            continue
        assert can(user, action, project) == (Role(key) in ALLOWED[action])


def test_roles_are_per_project(personas, project, other_project):
    outsider = personas["outsider"]
    assert roles_in(outsider, other_project) == {Role.PLATFORM_LEAD}
    assert roles_in(outsider, project) == frozenset()


def test_the_auditor_may_only_read_and_export(personas, project):
    auditor = personas["auditor"]
    allowed = {a for a in Action if can(auditor, a, project)}
    assert allowed == {Action.VIEW, Action.EXPORT_AUDIT}


def test_roles_are_looked_up_once_per_request(personas, project, django_assert_num_queries):
    user = personas["qa_lead"]
    with django_assert_num_queries(1) as queries:
        for action in Action:
            can(user, action, project)
    # Read on every signed-in request: the memberships with their projects' names, neither
    # sorted nor joined to the users table (the model's default ordering would do both).
    sql = queries.captured_queries[0]["sql"]
    assert "auth_user" not in sql and "ORDER BY" not in sql, sql


def test_the_readme_and_the_role_table_agree_that_release_engineers_deploy():
    from pathlib import Path

    from release_portal.accounts.roles import ALLOWED, Action, Role

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| Release engineer |"))
    assert "deploy" in row
    assert Role.RELEASE_ENGINEER in ALLOWED[Action.DEPLOY]
    auditor = next(line for line in readme.splitlines() if line.startswith("| Auditor |"))
    assert "never owns a release" in auditor
