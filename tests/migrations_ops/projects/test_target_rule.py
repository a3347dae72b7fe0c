"""Which variables a project's targets may name (PORTAL_TARGET_VARS and the portal's own).

Project ibimina's production target names IBIMINA_PRODUCTION_DATABASE_URL. The platform
lead of another project (``outsider``) tries what the review found: pointing a target
of their own at the portal's server or at ibimina's production.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from migrations_ops.models import Target, TargetDisabled
from migrations_ops.projects.services import TargetError, target_create, target_update
from release_portal.audit.models import AuditEvent
from release_portal.settings import env_target_vars
from tests.factories import TargetFactory

IBIMINA_PRODUCTION = "IBIMINA_PRODUCTION_DATABASE_URL"
PRODUCTION_URL = "postgresql://app:ibimina-prod-pw@prod.example.com:5432/postgres"


@pytest.fixture
def production(project):
    return TargetFactory(
        project=project, name="production", kind="production", url_env_var=IBIMINA_PRODUCTION
    )


def add_target(client, project, variable, name="staging", kind="staging"):
    return client.post(
        reverse("target_new", args=[project.slug]),
        {"name": name, "kind": kind, "url_env_var": variable},
    )


@pytest.mark.parametrize(
    "variable", ["DATABASE_URL", "SCRATCH_DATABASE_URL", "AWS_SECRET_ACCESS_KEY", "PGPASSWORD"]
)
def test_no_lead_may_point_a_target_at_the_portals_own_variables(
    client, outsider, other_project, variable
):
    client.force_login(outsider)
    response = add_target(client, other_project, variable)
    assert response.status_code == 400
    html = response.content.decode()
    assert f"{variable} is one of the portal&#x27;s own variables" in html
    assert "OTHER_TEAM_STAGING_DATABASE_URL" in html  # what to use instead
    assert not Target.objects.exists()


def test_a_lead_may_not_take_another_projects_variable(client, outsider, other_project, production):
    client.force_login(outsider)
    response = add_target(client, other_project, IBIMINA_PRODUCTION)
    assert response.status_code == 400
    html = response.content.decode()
    assert f"{IBIMINA_PRODUCTION} is used by another project&#x27;s target" in html
    assert "ask the operator to add it to PORTAL_TARGET_VARS for project other-team" in html
    assert "Ibimina" not in html  # the other project is not named to an outsider
    assert list(Target.objects.all()) == [production]


def test_a_lead_may_name_a_variable_no_one_else_uses(client, platform_lead, project, production):
    client.force_login(platform_lead)
    assert add_target(client, project, "IBIMINA_STAGING_DATABASE_URL").status_code == 302
    # The project's own production variable, for a second production target (a staging
    # one on it would skip the gate: test_production_gets_no_second_name_of_another_kind).
    assert (
        add_target(client, project, IBIMINA_PRODUCTION, name="prod2", kind="production").status_code
        == 302
    )


def test_with_portal_target_vars_only_the_listed_variables_are_allowed(
    client, settings, platform_lead, project
):
    settings.PORTAL_TARGET_VARS = {"ibimina": ["IBIMINA_*"], "shop": ["SHOP_*"]}
    client.force_login(platform_lead)
    assert add_target(client, project, "IBIMINA_STAGING_DATABASE_URL").status_code == 302

    response = add_target(client, project, "STAGING_DATABASE_URL", name="other")
    assert response.status_code == 400
    html = response.content.decode()
    assert (
        "STAGING_DATABASE_URL is not among the variables PORTAL_TARGET_VARS allows for "
        "project ibimina (IBIMINA_*)"
    ) in html
    assert "ask the operator to add it to PORTAL_TARGET_VARS for project ibimina" in html
    assert add_target(client, project, "SHOP_DATABASE_URL", name="shop").status_code == 400
    # The settings page says what the operator allows.
    page = client.get(reverse("project_settings", args=[project.slug])).content.decode()
    assert "this project's targets (PORTAL_TARGET_VARS): IBIMINA_*." in page


def test_with_portal_target_vars_a_project_not_listed_may_use_none(
    client, settings, outsider, other_project
):
    settings.PORTAL_TARGET_VARS = {"ibimina": ["IBIMINA_*"]}
    client.force_login(outsider)
    response = add_target(client, other_project, "OTHER_TEAM_STAGING_DATABASE_URL")
    assert response.status_code == 400
    assert "allows for project other-team (none)" in response.content.decode()


def test_with_portal_target_vars_the_portals_own_stay_refused(client, settings, platform_lead):
    settings.PORTAL_TARGET_VARS = {"ibimina": ["*"]}
    client.force_login(platform_lead)
    response = add_target(client, platform_lead.memberships.get().project, "DATABASE_URL")
    assert response.status_code == 400
    assert "one of the portal&#x27;s own variables" in response.content.decode()


def test_a_variable_listed_for_two_projects_belongs_to_neither(settings, project, platform_lead):
    settings.PORTAL_TARGET_VARS = {"ibimina": ["SHARED_URL"], "other-team": ["SHARED_*"]}
    with pytest.raises(TargetError, match="allowed for another project too"):
        target_create(
            project=project, name="staging", kind="staging", url_env_var="SHARED_URL",
            user=platform_lead,
        )  # fmt: skip


def test_the_service_refuses_what_the_form_refuses(other_project, production, outsider):
    with pytest.raises(TargetError, match="used by another project's target"):
        target_create(
            project=other_project, name="prod", kind="production",
            url_env_var=IBIMINA_PRODUCTION, user=outsider,
        )  # fmt: skip
    with pytest.raises(TargetError, match="portal's own variables"):
        target_create(
            project=other_project, name="prod", kind="production",
            url_env_var="SCRATCH_DATABASE_URL", user=outsider,
        )  # fmt: skip


def test_a_target_that_breaks_the_rule_is_disabled_and_its_variable_never_read(
    client, monkeypatch, platform_lead, project
):
    # Made before the rule existed: it points at the portal's own scratch server.
    target = TargetFactory(project=project, name="staging", url_env_var="SCRATCH_DATABASE_URL")
    monkeypatch.setenv("SCRATCH_DATABASE_URL", "postgresql://postgres@127.0.0.1/postgres")

    with pytest.raises(TargetDisabled, match="the target staging is disabled: SCRATCH_DATA"):
        target.database_url()

    client.force_login(platform_lead)
    page = client.get(reverse("project_settings", args=[project.slug])).content.decode()
    assert "disabled: one of the portal&#x27;s own variables" in page
    assert "Disabled, no job can use it: SCRATCH_DATABASE_URL is one of the portal" in page
    response = client.post(reverse("target_test", args=[project.slug, target.pk]))
    assert "Not tested: the target staging is disabled" in response.content.decode()
    event = AuditEvent.objects.get(action="target.test_connection")
    assert event.data["disabled"] == "one of the portal's own variables"


def test_two_projects_naming_one_variable_both_lose_it_until_the_operator_decides(
    settings, project, other_project
):
    ours = TargetFactory(project=project, url_env_var="SHARED_DATABASE_URL")
    theirs = TargetFactory(project=other_project, url_env_var="SHARED_DATABASE_URL")
    assert ours.refusal is not None and theirs.refusal is not None
    assert ours.refusal.short == "another project's target uses it"

    settings.PORTAL_TARGET_VARS = {"ibimina": ["SHARED_DATABASE_URL"]}
    assert ours.refusal is None
    assert theirs.refusal is not None
    assert "not among the variables PORTAL_TARGET_VARS allows" in theirs.refusal.message


def test_the_settings_page_reads_the_rule_in_one_query_for_all_targets(
    client, platform_lead, project, other_project, django_assert_max_num_queries
):
    TargetFactory(project=other_project, url_env_var="SHARED_DATABASE_URL")
    for n in range(6):
        TargetFactory(project=project, name=f"t{n}", url_env_var=f"VAR_{n}")
    client.force_login(platform_lead)
    url = reverse("project_settings", args=[project.slug])
    client.get(url)
    # As many as with one target: the targets come with the rule's inputs in one query
    # (the rest are the session, the user, project access and navigation).
    with django_assert_max_num_queries(6):
        assert client.get(url).status_code == 200


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("", None),
        (
            "demo:DEMO_STAGING_DATABASE_URL,DEMO_PRODUCTION_DATABASE_URL;shop:SHOP_*",
            {
                "demo": ["DEMO_STAGING_DATABASE_URL", "DEMO_PRODUCTION_DATABASE_URL"],
                "shop": ["SHOP_*"],
            },
        ),
        (" demo : A , B ; ; demo:C", {"demo": ["A", "B", "C"]}),
        ("demo:", {"demo": []}),
    ],
)
def test_portal_target_vars_is_read_from_the_environment(monkeypatch, raw, parsed):
    monkeypatch.setenv("PORTAL_TARGET_VARS", raw)
    assert env_target_vars("PORTAL_TARGET_VARS") == parsed


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("DEMO_STAGING_DATABASE_URL", "entry 1 is not <project slug>:<VARIABLE>"),
        ("demo:A;shop:B,postgresql://u:hunter2@h/db", "name 2 of project shop is not a var"),
        ("demo:lower_case", "name 1 of project demo is not a variable name"),
    ],
)
def test_a_malformed_portal_target_vars_stops_the_portal(monkeypatch, raw, message):
    monkeypatch.setenv("PORTAL_TARGET_VARS", raw)
    with pytest.raises(ImproperlyConfigured, match=message) as refused:
        env_target_vars("PORTAL_TARGET_VARS")
    assert "hunter2" not in str(refused.value)


def test_the_rule_looks_at_every_project_whichever_targets_it_is_asked_through(
    project, other_project, production
):
    refusal = other_project.targets.refusal_for(project=other_project, variable=IBIMINA_PRODUCTION)
    assert refusal is not None and refusal.short == "another project's target uses it"


def test_production_gets_no_second_name_of_another_kind(project, production, platform_lead):
    """A staging or "other" target naming production's variable is production under a
    name that needs no gate: an apply there would skip the release gate, and a backup of
    it would not count as production's. A variable names one target of the project."""
    with pytest.raises(TargetError, match="already the URL of the target production"):
        target_create(
            project=project, name="prod-copy", kind="other", url_env_var=IBIMINA_PRODUCTION,
            user=platform_lead,
        )  # fmt: skip
    staging = target_create(
        project=project, name="staging", kind="staging", url_env_var="IBIMINA_STAGING_URL",
        user=platform_lead,
    )  # fmt: skip
    with pytest.raises(TargetError, match="already the URL of the target production"):
        target_update(
            target=staging, name="staging", kind="staging", url_env_var=IBIMINA_PRODUCTION,
            user=platform_lead,
        )  # fmt: skip
    assert list(project.targets.values_list("url_env_var", flat=True).order_by("name")) == [
        IBIMINA_PRODUCTION, "IBIMINA_STAGING_URL",
    ]  # fmt: skip
    # Its own variable stays its own: saving the target unchanged, or renaming it, is fine.
    target_update(
        target=production, name="prod", kind="production", url_env_var=IBIMINA_PRODUCTION,
        user=platform_lead,
    )  # fmt: skip
