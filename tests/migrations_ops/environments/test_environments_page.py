"""Environments at a glance: each target with what is applied, deployed, backed up, rolled
back and watched there, from stored rows only; members of the project only."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from checklists.models import Deployment
from checklists.services.releases import release_create
from migrations_ops.models import BackupManifest, Job, RollbackPlan
from migrations_ops.monitoring.models import MonitoringWindow
from tests.factories import TargetFactory, published_runbook

T0 = timezone.now() - timedelta(days=1)


@pytest.fixture
def targets(project):
    return {
        "staging": TargetFactory(project=project, name="staging", kind="staging",
                                 url_env_var="ENV_TEST_STAGING_URL"),
        "production": TargetFactory(project=project, name="production", kind="production",
                                    url_env_var="ENV_TEST_PRODUCTION_URL"),
    }  # fmt: skip


def make_release(project, owner, n):
    return release_create(
        project=project, title=f"R-{n}", owner=owner, commit_sha=f"{n:040x}", created_by=owner
    )


def backup(project, release, target, at, state="passed"):
    return BackupManifest.objects.create(
        project=project, release=release, target=target, schemas=["public"],
        location="/var/backups", file_name=f"{at:%H%M%S}.sql", file_key="k", manifest_key="m",
        sha256="a" * 64, size=1, started_at=at, finished_at=at, verify_state=state,
    )  # fmt: skip


@pytest.fixture
def history(project, platform_lead, targets):
    """R-1 deployed to production a day ago and watched; R-2 on staging; a pending job's
    reading of staging; backups; a rolled-back R-3 with its plan."""
    published_runbook(project)
    staging, production = targets["staging"], targets["production"]
    r1, r2, r3 = (make_release(project, platform_lead, n) for n in (1, 2, 3))
    Deployment.objects.create(release=r1, target=production, status="succeeded", digest="d",
                              started_by_name="ci", finished_at=T0)  # fmt: skip
    Deployment.objects.create(release=r2, target=staging, status="succeeded", digest="d",
                              started_by_name="ci",
                              finished_at=T0 + timedelta(hours=2))  # fmt: skip
    Deployment.objects.create(release=r3, target=production, kind="rollback", status="succeeded",
                              digest="d", started_by_name="sre",
                              finished_at=T0 + timedelta(hours=5))  # fmt: skip
    Job.objects.create(
        project=project, target=staging, kind="pending", state="succeeded",
        finished_at=T0 + timedelta(hours=3),
        result={"newest_applied": "20250115000000", "pending": [
            {"filename": "20250201000000_invoices.sql"}],
            "applied": [{"version": "20250101000000"}, {"version": "20250115000000"}]},
    )  # fmt: skip
    Job.objects.create(  # older: the newer reading wins
        project=project, target=staging, kind="pending", state="succeeded", finished_at=T0,
        result={"newest_applied": "20240101000000", "applied": [], "pending": []},
    )  # fmt: skip
    for hours in (1, 2, 3, 4):
        backup(project, r1, production, T0 + timedelta(hours=hours))
    RollbackPlan.objects.create(project=project, release=r3, target=production, steps=[],
                                rehearsal_state="passed")  # fmt: skip
    MonitoringWindow.objects.create(release=r1, target=production, state="clean",
                                    started_at=T0, ends_at=T0 + timedelta(minutes=30),
                                    ended_at=T0 + timedelta(minutes=30))  # fmt: skip
    return {"r1": r1, "r2": r2, "r3": r3}


def url(project):
    return reverse("project_environments", kwargs={"slug": project.slug})


def card(html, name):
    return html.split(f'data-target="{name}"', 1)[1].split("</section>", 1)[0]


@pytest.mark.parametrize("role", ["platform_lead", "release_engineer", "qa_lead", "sre", "auditor"])
def test_every_member_sees_each_target_with_its_history(client, personas, project, history, role):
    client.force_login(personas[role])
    response = client.get(url(project))
    assert response.status_code == 200
    html = response.content.decode()
    staging, production = card(html, "staging"), card(html, "production")
    assert "2 applied, newest <code>20250115000000</code>" in staging
    assert "pending: 20250201000000_invoices.sql" in staging
    assert "read by " in staging and "Pending or failed migrations #" in staging
    assert ">R-2</a>" in staging and "no deployment recorded" not in staging
    assert ">R-1</a>" in production
    assert production.count("Verified</span>") == 3  # the newest three of four backups
    # What the rollback did and when it ended, as the matrix says it.
    assert f">R-3</a>, rolled back {T0 + timedelta(hours=5):%Y-%m-%d %H:%M} UTC" in production
    assert "</a> for R-3: rehearsal passed" in production
    assert "Ended clean</span> <a " in production and ">R-1</a>, " in production
    matrix = html.split('id="release-matrix"', 1)[1].split("</table>", 1)[0]
    rows = matrix.split("<tr>")[2:]  # after the header
    assert [row.split("</a>")[0].rsplit(">", 1)[1] for row in rows] == ["R-3", "R-2", "R-1"]
    assert "rolled back" in rows[0] and "deployed" in rows[2]


def test_each_backup_plan_rollback_and_window_links_to_its_page(client, sre, project, history):
    """The card names what it read and leads to it: each backup to its page, the rollback
    plan to its page, the rolled-back release and the monitoring window to theirs."""
    client.force_login(sre)
    html = client.get(url(project)).content.decode()
    production = card(html, "production")
    shown = BackupManifest.objects.filter(target__name="production").order_by("-finished_at")[:3]
    for b in shown:
        assert f'href="{reverse("backup_detail", args=[b.pk])}"' in production
    plan = RollbackPlan.objects.get()
    assert f'href="{reverse("rollback_detail", args=[plan.pk])}"' in production
    assert f'href="{reverse("release_detail", args=[history["r3"].pk])}"' in production
    assert f'href="{reverse("release_monitoring", args=[history["r1"].pk])}"' in production
    # The dashboard's compact panel links the newest backup the same way.
    dashboard = client.get(reverse("dashboard")).content.decode()
    assert f'href="{reverse("backup_detail", args=[shown[0].pk])}"' in dashboard


def test_the_dashboard_says_when_the_newest_backup_failed_its_restore_check(
    client, sre, platform_lead, project, targets
):
    """The dashboard's Backup column gave the newest backup's time only: a backup whose
    restore check failed read like a good one (the environments page says "Verification
    failed" for the same backup)."""
    published_runbook(project)
    release = make_release(project, platform_lead, 1)
    backup(project, release, targets["production"], T0, state="passed")
    newest = backup(project, release, targets["production"], T0 + timedelta(hours=1), "failed")
    client.force_login(sre)
    panel = client.get(reverse("dashboard")).content.decode().split('id="environments-panel"')[1]
    row = panel.split("<td>production", 1)[1].split("</tr>", 1)[0]
    assert f'href="{reverse("backup_detail", args=[newest.pk])}"' in row
    assert "Verification failed</span>" in row


def test_a_target_with_nothing_recorded_says_so(client, auditor, project, targets):
    client.force_login(auditor)
    html = client.get(url(project)).content.decode()
    staging = card(html, "staging")
    assert "not read yet" in staging and "no deployment recorded" in staging
    assert "none run" in staging and "no window yet" in staging


def test_another_projects_member_gets_404_and_anonymous_the_login(
    client, outsider, project, history
):
    assert client.get(url(project)).status_code == 302
    client.force_login(outsider)
    assert client.get(url(project)).status_code == 404


def test_its_queries_do_not_grow_with_history(
    client, auditor, project, platform_lead, history, targets, django_assert_max_num_queries
):
    client.force_login(auditor)
    # Session, user, project, roles; targets; then one query per part (history jobs,
    # deployments x3, plans, windows, backups) and the matrix (releases, deployments).
    with django_assert_max_num_queries(18) as few:
        client.get(url(project))
    for n in range(4, 30):
        r = make_release(project, platform_lead, n)
        Deployment.objects.create(
            release=r,
            target=targets["staging"],
            status="succeeded",
            digest="d",
            started_by_name="ci",
            finished_at=timezone.now(),
        )
        backup(project, r, targets["staging"], timezone.now())
        Job.objects.create(project=project, target=targets["production"], kind="backup",
                           state="succeeded", finished_at=timezone.now(),
                           result={"applied_versions": ["1", "2"]})  # fmt: skip
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = client.get(url(project)).content.decode()
    assert "2 applied, newest <code>2</code>" in card(html, "production")


def test_the_dashboard_shows_the_persons_projects_environments_only(
    client, auditor, outsider, project, other_project, history
):
    TargetFactory(project=other_project, name="theirs-prod", kind="production",
                  url_env_var="ENV_TEST_OTHER_URL")  # fmt: skip
    client.force_login(auditor)
    html = client.get(reverse("dashboard")).content.decode()
    panel = html.split('id="environments-panel"', 1)[1].split("</section>", 1)[0]
    assert url(project) in panel
    assert "<td>production" in panel and "R-1" in panel and "20250115000000" in panel
    assert "theirs-prod" not in panel
    client.force_login(outsider)
    panel = client.get(reverse("dashboard")).content.decode().split('id="environments-panel"')[1]
    assert "theirs-prod" in panel and "R-1" not in panel.split("</section>", 1)[0]


def test_a_deployed_release_rolled_back_since_is_not_shown_as_what_runs_there(
    client, auditor, project, history, targets
):
    """What the SRE read after rolling R-1 back on production: "Deployed: R-1", as if R-1
    still ran there, with the rollback only further down the card."""
    Deployment.objects.create(release=history["r1"], target=targets["production"],
                              kind="rollback", status="succeeded", digest="d",
                              started_by_name="sre",
                              finished_at=T0 + timedelta(hours=6))  # fmt: skip
    client.force_login(auditor)
    production = card(client.get(url(project)).content.decode(), "production")
    deployed = production.split(">Deployed<", 1)[1].split("</tr>", 1)[0]
    assert ">R-1</a>" in deployed and "rolled back</span>" in deployed
    assert f"{T0 + timedelta(hours=6):%Y-%m-%d %H:%M} UTC" in deployed
    panel = client.get(reverse("dashboard")).content.decode().split('id="environments-panel"')[1]
    row = panel.split("<td>production", 1)[1].split("</tr>", 1)[0]
    assert "R-1" in row and "rolled back</span>" in row


def test_a_rollback_of_another_release_leaves_the_deployed_one_standing(
    client, auditor, project, history
):
    client.force_login(auditor)  # the history's rollback is R-3's, R-1 stays deployed
    production = card(client.get(url(project)).content.decode(), "production")
    deployed = production.split(">Deployed<", 1)[1].split("</tr>", 1)[0]
    assert ">R-1</a>" in deployed and "rolled back" not in deployed


def test_the_matrix_says_when_a_rollback_failed_or_is_under_way(
    client, sre, project, history, targets
):
    """What the SRE read after a rollback of R-2 on staging failed: "rolled back" (in red),
    while R-2 still ran there; one under way read "rolled back" too, a deployment under
    way "started"."""
    Deployment.objects.create(release=history["r2"], target=targets["staging"],
                              kind="rollback", status="failed", digest="d",
                              started_by_name="sre",
                              finished_at=T0 + timedelta(hours=6))  # fmt: skip
    Deployment.objects.create(release=history["r3"], target=targets["staging"],
                              kind="rollback", status="started", digest="d",
                              started_by_name="sre")  # fmt: skip
    Deployment.objects.create(release=history["r2"], target=targets["production"],
                              status="started", digest="d", started_by_name="ci")  # fmt: skip
    client.force_login(sre)
    matrix = client.get(url(project)).content.decode().split('id="release-matrix"', 1)[1]
    r3, r2 = matrix.split("</table>", 1)[0].split("<tr>")[2:4]
    staging, production = r2.split("<td>")[1:3]
    assert "rollback failed</span>" in staging and "rolled back" not in staging
    assert "deploying</span>" in production
    assert "rolling back</span>" in r3.split("<td>")[1]


def test_the_dashboard_shows_an_alerted_window_and_a_deployment_under_way(
    client, sre, project, history, targets
):
    """What the SRE's dashboard said while R-2's window on staging had alerted: a blue
    "monitoring", as for a quiet one; and "—" for a production deployment under way (the
    environments page said "Alerted" and "deploying")."""
    MonitoringWindow.objects.create(release=history["r2"], target=targets["staging"],
                                    state="alerted", started_at=timezone.now(),
                                    ends_at=timezone.now() + timedelta(hours=1))  # fmt: skip
    Deployment.objects.create(release=history["r2"], target=targets["production"],
                              status="started", digest="d", started_by_name="ci")  # fmt: skip
    client.force_login(sre)
    panel = client.get(reverse("dashboard")).content.decode().split('id="environments-panel"')[1]
    staging = panel.split("<td>staging", 1)[1].split("</tr>", 1)[0]
    assert ">alerted</span>" in staging and 'badge-info">monitoring' not in staging
    production = panel.split("<td>production", 1)[1].split("</tr>", 1)[0]
    assert "R-1" in production and "deploying</span> R-2" in production


def test_a_monitoring_window_past_midnight_reads_with_both_days(
    client, auditor, project, platform_lead, targets
):
    """The row said "R-9, 2026-12-05 23:50 to 00:20 UTC": an end that read as before the
    start. Both ends are whole UTC times now."""
    from datetime import UTC, datetime

    published_runbook(project)
    release = make_release(project, platform_lead, 9)
    start = datetime(2026, 12, 5, 23, 50, tzinfo=UTC)
    MonitoringWindow.objects.create(release=release, target=targets["production"],
                                    state="running", started_at=start,
                                    ends_at=start + timedelta(minutes=30))  # fmt: skip
    client.force_login(auditor)
    production = card(client.get(url(project)).content.decode(), "production")
    assert "R-9</a>, 2026-12-05 23:50 UTC to 2026-12-06 00:20 UTC" in production


def test_no_targets_links_a_lead_to_the_settings_and_tells_the_others_who_adds_them(
    client, platform_lead, auditor, project
):
    settings_link = reverse("project_settings", kwargs={"slug": project.slug})
    client.force_login(platform_lead)
    page = client.get(url(project)).content.decode()
    dashboard = client.get(reverse("dashboard")).content.decode()
    panel = dashboard.split('id="environments-panel"', 1)[1].split("</section>", 1)[0]
    assert f'<a href="{settings_link}">Add staging and production</a>' in page
    assert f'<a href="{settings_link}">Add staging and production</a>' in panel
    client.force_login(auditor)
    page = client.get(url(project)).content.decode()
    dashboard = client.get(reverse("dashboard")).content.decode()
    assert settings_link not in page and settings_link not in dashboard
    assert "A platform lead adds staging and production" in page


def test_every_list_of_targets_goes_staging_other_production(
    client, platform_lead, project, targets
):
    TargetFactory(project=project, name="preview", kind="other", url_env_var="ENV_TEST_PREVIEW")
    from migrations_ops.jobs.forms import JobStartForm

    client.force_login(platform_lead)
    for page, mark in (
        (reverse("project_settings", kwargs={"slug": project.slug}), "<h3>{} "),
        (url(project), 'data-target="{}"'),
    ):
        html = client.get(page).content.decode()
        found = [html.find(mark.format(name)) for name in ("staging", "preview", "production")]
        assert -1 not in found and found == sorted(found), (page, found)
    menu = JobStartForm(project=project, user=platform_lead).fields["target"].queryset
    assert [t.name for t in menu] == ["staging", "preview", "production"]


def test_a_deployment_through_a_freeze_is_marked_with_its_break_glass(
    client, auditor, platform_lead, project, targets
):
    """A deployment goes through a freeze window only by a break-glass: the card, the
    matrix and the dashboard say so beside it (they showed it as any other deployment);
    one outside any window carries no mark."""
    from checklists.models import FreezeWindow, GateOverride

    published_runbook(project)
    hotfix, later = make_release(project, platform_lead, 1), make_release(project, platform_lead, 2)
    FreezeWindow.objects.create(
        project=project, starts_at=T0, ends_at=T0 + timedelta(hours=4), reason="Black Friday",
        created_by=platform_lead,
    )  # fmt: skip
    glass = GateOverride.objects.create(
        release=hotfix, digest="d", reason="the login outage", created_by=platform_lead,
        expires_at=T0 + timedelta(hours=1),
    )  # fmt: skip
    through = Deployment.objects.create(
        release=hotfix, target=targets["production"], status="succeeded", digest="d",
        override=glass, started_by_name="lead", finished_at=T0 + timedelta(hours=1),
    )  # fmt: skip
    Deployment.objects.filter(pk=through.pk).update(started_at=T0 + timedelta(minutes=30))
    after = Deployment.objects.create(
        release=later, target=targets["staging"], status="succeeded", digest="d",
        started_by_name="ci", finished_at=T0 + timedelta(hours=6),
    )  # fmt: skip
    Deployment.objects.filter(pk=after.pk).update(started_at=T0 + timedelta(hours=5))

    client.force_login(auditor)
    html = client.get(url(project)).content.decode()
    marks = 'break-glass</span> <span class="muted small">“the login outage”</span>'
    freeze = "during freeze “Black Friday”</span>"
    production, staging = card(html, "production"), card(html, "staging")
    assert marks in production and freeze in production
    assert "break-glass" not in staging and "during freeze" not in staging
    matrix = html.split('id="release-matrix"', 1)[1].split("</table>", 1)[0]
    row_1 = matrix.split(">R-1</a>", 1)[1].split("</tr>", 1)[0]
    row_2 = matrix.split(">R-2</a>", 1)[1].split("</tr>", 1)[0]
    assert marks in row_1 and freeze in row_1
    assert "break-glass" not in row_2 and "during freeze" not in row_2
    panel = client.get(reverse("dashboard")).content.decode().split('id="environments-panel"')[1]
    assert freeze in panel.split("<td>production", 1)[1].split("</tr>", 1)[0]
