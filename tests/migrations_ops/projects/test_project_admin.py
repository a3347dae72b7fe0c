"""Projects and targets in Django's admin: nothing there skips the settings page's rules
or the change log."""

import pytest
from django.urls import reverse

from migrations_ops.models import Project, Target
from release_portal.audit.models import AuditEvent
from tests.factories import TargetFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(db):
    return UserFactory(username="ops", is_superuser=True, is_staff=True)


def change_url(project):
    return reverse("admin:migrations_ops_project_change", args=[project.pk])


def posted(project, target, **fields):
    """The change form as the admin posts it, with ``fields`` and the target's row."""
    return {
        "name": project.name,
        "description": project.description,
        "targets-TOTAL_FORMS": "1",
        "targets-INITIAL_FORMS": "1",
        "targets-MIN_NUM_FORMS": "0",
        "targets-MAX_NUM_FORMS": "1000",
        "targets-0-id": str(target.pk),
        "targets-0-project": str(project.pk),
        **fields,
    }


def test_a_project_renamed_in_the_admin_is_in_the_change_log(client, operator, project):
    """What the auditor missed: a project edited in /admin/ left no change-log event."""
    target = TargetFactory(project=project)
    client.force_login(operator)
    response = client.post(
        change_url(project), posted(project, target, name="Ibimina savings", description="SACCO")
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.name, project.description) == ("Ibimina savings", "SACCO")
    event = AuditEvent.objects.get(action="project.settings_update")
    assert event.actor_name == "ops" and event.project_id == project.pk
    assert event.data == {
        "changed": {
            "name": {"before": "Ibimina", "after": "Ibimina savings"},
            "description": {"before": "", "after": "SACCO"},
        },
        "via": "admin",
    }


def test_settings_and_targets_are_changed_only_where_their_rules_are(
    client, operator, project, settings
):
    """What an operator could do in /admin/: point a target at the portal's own database
    (DATABASE_URL), give check commands a database URL, or add a target that
    PORTAL_TARGET_VARS does not allow, all unchecked and unaudited. The admin now shows
    them as they are, with the way to the page whose rules and change log apply."""
    settings.PORTAL_TARGET_VARS = {"ibimina": ["STAGING_DATABASE_URL"]}
    target = TargetFactory(project=project)
    client.force_login(operator)
    page = client.get(change_url(project)).content.decode()
    assert reverse("project_settings", args=["ibimina"]) in page
    assert "Settings and targets of Ibimina" in page and "enabled" in page

    response = client.post(
        change_url(project),
        posted(
            project, target,
            **{"targets-0-url_env_var": "DATABASE_URL", "targets-0-kind": "production",
               "command_env_names": "PROD_DATABASE_URL", "slug": "other-team",
               "targets-TOTAL_FORMS": "2", "targets-1-name": "production",
               "targets-1-kind": "production", "targets-1-url_env_var": "DATABASE_URL"},
        ),
    )  # fmt: skip
    assert response.status_code == 302
    target.refresh_from_db()
    assert (target.kind, target.url_env_var) == ("staging", "STAGING_DATABASE_URL")
    assert list(Target.objects.filter(project=project)) == [target]
    project.refresh_from_db()
    assert project.slug == "ibimina" and project.command_env_names == []
    assert not AuditEvent.objects.exists()  # nothing changed, nothing to record


def test_projects_are_made_on_the_operators_page_and_never_deleted_here(client, operator, project):
    client.force_login(operator)
    add = client.get(reverse("admin:migrations_ops_project_add"))
    assert add.status_code == 302 and add["Location"] == reverse("operator_project_new")
    delete = client.post(
        reverse("admin:migrations_ops_project_delete", args=[project.pk]), {"post": "yes"}
    )
    assert delete.status_code == 403
    assert Project.objects.filter(pk=project.pk).exists()
