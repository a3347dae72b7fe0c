"""Pages and actions from both sides: every role, and a member of another project (404)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from checklists.models import Evidence
from migrations_ops.models import (
    BackupManifest,
    Incident,
    IncidentEntry,
    Job,
    RollbackPlan,
    Target,
)
from release_portal.audit.models import AuditEvent

ACTORS = ["sre", "platform_lead"]
READERS = ["release_engineer", "qa_lead", "auditor"]
EVERYONE = ACTORS + READERS


@pytest.fixture
def backup(release, target, backup_dir):
    key = "ibimina/production/20250102T120000Z_pre_migration.sql"
    (backup_dir / "ibimina/production").mkdir(parents=True)
    (backup_dir / key).write_bytes(b"-- dump\n")
    (backup_dir / (key + ".manifest.json")).write_text("{}")
    when = datetime(2025, 1, 2, 12, tzinfo=UTC)
    return BackupManifest.objects.create(
        project=release.project, release=release, target=target, schemas=["app", "public"],
        location=str(backup_dir), file_name=key.rsplit("/", 1)[1], file_key=key,
        manifest_key=key + ".manifest.json", sha256="a" * 64, size=8,
        applied_versions=["20250101000000", "20250102000000"], started_at=when,
        finished_at=when, verify_state="passed", verified_at=when,
        verification={"ok": True, "summary": "restored: 4 tables match"},
        tables=[{"schema": "app", "table": "orders", "rows": 4000, "rls_enabled": False,
                 "policies": 0}],
    )  # fmt: skip


@pytest.fixture
def plan(release, target, backup):
    return RollbackPlan.objects.create(
        project=release.project, release=release, target=target, backup=backup,
        steps=[{"kind": "down", "version": "20250104000000", "file": "x.sql", "path": "p",
                "migration": "m", "loses": [], "loses_text": "loses no data",
                "commands": ["psql"], "reverts": ["20250104000000"]}],
        last_good_version="20250102000000", verified_target_version="20250104000000",
    )  # fmt: skip


@pytest.fixture
def incident(release, target, sre):
    return Incident.objects.create(
        project=release.project, release=release, target=target, title="Checkout down",
        trigger="monitoring_alert", opened_by_name="sre",
    )  # fmt: skip


def _login(client, personas, who):
    client.force_login(personas[who])


@pytest.mark.parametrize("who", EVERYONE)
def test_it_shows_backups_to_every_member(
    client, personas, who, backup, django_assert_max_num_queries
):
    _login(client, personas, who)
    # session, user, roles, count, rows (+ project/release/target), protected pairs, filters
    with django_assert_max_num_queries(12):
        page = client.get("/backups/")
    assert page.status_code == 200 and backup.file_name in page.text
    detail = client.get(f"/backups/{backup.pk}/")
    assert detail.status_code == 200 and "4,000" in detail.text
    assert ("Download dump" in detail.text) == (who in ACTORS)
    assert ("Verify again" in detail.text) == (who in ACTORS)
    assert client.get(f"/projects/{backup.project.slug}/backups/CHANGELOG.md").status_code == 200


def test_it_lists_only_kept_backups_whose_restore_check_passed_as_verified(
    client, personas, backup
):
    def copy(name, **fields):
        return BackupManifest.objects.create(**{
            **{f.attname: getattr(backup, f.attname) for f in BackupManifest._meta.concrete_fields
               if f.attname != "id"},
            "file_name": name, **fields,
        })  # fmt: skip

    copy("failed.sql", verify_state="failed")
    copy("deleted.sql", deleted_at=backup.finished_at)
    _login(client, personas, "sre")

    kept = client.get("/backups/").text
    page = client.get("/backups/?state=verified")

    assert "failed.sql" in kept  # the list shows it unfiltered, so its absence below counts
    assert page.status_code == 200
    assert backup.file_name in page.text
    assert "failed.sql" not in page.text and "deleted.sql" not in page.text


def test_the_filters_say_what_no_choice_means(client, personas, backup, plan):
    """The project and target filters offered "- Select an option -", which filters nothing."""
    _login(client, personas, "sre")
    for url in ("/backups/", "/rollbacks/"):
        html = client.get(url).text
        assert '<option value="" selected>All projects</option>' in html, url
        assert '<option value="" selected>All targets</option>' in html, url


def test_it_hides_other_projects_backups(client, personas, backup, incident, plan):
    _login(client, personas, "outsider")
    assert backup.file_name not in client.get("/backups/").text
    for url in (f"/backups/{backup.pk}/", f"/backups/{backup.pk}/download",
                f"/rollbacks/{plan.pk}/", f"/incidents/{incident.pk}/",
                f"/projects/{backup.project.slug}/backups/CHANGELOG.md",
                f"/releases/{backup.release.pk}/incidents/new"):  # fmt: skip
        assert client.get(url).status_code == 404, url
    for url in (f"/backups/{backup.pk}/verify", f"/backups/{backup.pk}/delete",
                f"/backups/{backup.pk}/snapshot", f"/releases/{backup.release.pk}/backups/capture",
                f"/rollbacks/{plan.pk}/rehearse", f"/incidents/{incident.pk}/note"):  # fmt: skip
        assert client.post(url, {"reference": "x", "text": "x"}).status_code == 404, url


@pytest.mark.parametrize("who", EVERYONE)
def test_it_lets_only_sres_and_leads_download_audited(client, personas, who, backup):
    _login(client, personas, who)
    response = client.get(f"/backups/{backup.pk}/download")
    if who in READERS:
        assert response.status_code == 403
        assert not AuditEvent.objects.filter(action="backup.download").exists()
        return
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{backup.file_name}"'
    assert b"".join(response.streaming_content) == b"-- dump\n"
    event = AuditEvent.objects.get(action="backup.download")
    assert event.actor_name == personas[who].username


@pytest.mark.parametrize("who", EVERYONE)
def test_it_lets_only_sres_and_leads_act_on_backups(client, personas, who, backup, target):
    _login(client, personas, who)
    verify = client.post(f"/backups/{backup.pk}/verify")
    snapshot = client.post(f"/backups/{backup.pk}/snapshot", {"reference": "daily-42"})
    capture = client.post(f"/releases/{backup.release.pk}/backups/capture",
                          {"target": target.pk, "format": "plain"})  # fmt: skip
    delete = client.post(f"/backups/{backup.pk}/delete")
    backup.refresh_from_db()
    if who in READERS:
        assert {r.status_code for r in (verify, snapshot, capture, delete)} == {403}
        assert not Job.objects.exists() and not backup.is_deleted and not backup.snapshot_ref
        return
    assert {r.status_code for r in (verify, snapshot, capture, delete)} == {302}
    kinds = sorted(Job.objects.values_list("kind", flat=True))
    assert kinds == ["backup", "restore_check"]
    assert backup.snapshot_ref == "daily-42" and backup.is_deleted
    assert Evidence.objects.filter(kind="snapshot_ref", summary__contains="daily-42").exists()


def test_it_swaps_the_release_panel_with_htmx(client, personas, backup, target):
    _login(client, personas, "sre")
    panel = client.get(
        f"/releases/{backup.release.pk}/backups/panel", headers={"HX-Request": "true"}
    )
    assert panel.status_code == 200 and "Capture backup" in panel.text
    assert backup.file_name in panel.text and 'id="backups-panel"' in panel.text
    answer = client.post(f"/releases/{backup.release.pk}/backups/capture",
                         {"target": target.pk, "format": "plain"},
                         headers={"HX-Request": "true"})  # fmt: skip
    assert answer.status_code == 200 and "Queued Backup #" in answer.text
    _login(client, personas, "auditor")
    panel = client.get(
        f"/releases/{backup.release.pk}/backups/panel", headers={"HX-Request": "true"}
    )
    assert "Capture backup" not in panel.text


@pytest.mark.parametrize("who", EVERYONE)
def test_it_lets_only_sres_and_leads_plan_and_rehearse(
    client, personas, who, plan, release, target
):
    _login(client, personas, who)
    assert client.get("/rollbacks/").status_code == 200
    assert client.get(f"/rollbacks/{plan.pk}/").status_code == 200
    rehearse = client.post(f"/rollbacks/{plan.pk}/rehearse")
    save = client.post(f"/releases/{release.pk}/rollback/", {"target": target.pk})
    # Working a plan out connects to the target: a reader's request never does.
    work_out = client.get(f"/releases/{release.pk}/rollback/", {"target": target.pk})
    if who in READERS:
        assert (rehearse.status_code, save.status_code, work_out.status_code) == (403,) * 3
        assert not Job.objects.exists()
        return
    assert work_out.status_code == 200 and "no database URL for production" in work_out.text
    assert f"set {target.url_env_var} where the portal" in work_out.text
    assert rehearse.status_code == 302
    assert Job.objects.get().kind == "rehearsal"
    # Allowed through: the target's URL is not set here, which the page says.
    assert save.status_code == 400 and "no database URL for production" in save.text


@pytest.mark.parametrize("who", EVERYONE)
def test_it_lets_only_sres_and_leads_run_incidents(
    client, personas, who, incident, release, target
):
    _login(client, personas, who)
    assert client.get("/incidents/").status_code == 200
    page = client.get(f"/incidents/{incident.pk}/")
    assert page.status_code == 200 and "Checkout down" in page.text
    staging = Target.objects.create(project=release.project, name="staging", kind="staging",
                                    url_env_var="SRE_TEST_STAGING_URL")  # fmt: skip
    opened = client.post(f"/releases/{release.pk}/incidents/new",
                         {"target": staging.pk, "title": "Second", "trigger": "other"})  # fmt: skip
    note = client.post(f"/incidents/{incident.pk}/note", {"text": "Investigating."})
    if who in READERS:
        assert (opened.status_code, note.status_code) == (403, 403)
        assert not IncidentEntry.objects.exists()
        return
    assert (opened.status_code, note.status_code) == (302, 302)
    assert IncidentEntry.objects.filter(incident=incident, kind="status").get().text == (
        "Investigating."
    )


def test_it_answers_incident_steps_with_the_fragment_and_refuses_closing_without_postmortem(
    client, personas, incident
):
    _login(client, personas, "sre")
    answer = client.post(f"/incidents/{incident.pk}/close", {"postmortem_url": ""},
                         headers={"HX-Request": "true"})  # fmt: skip
    assert answer.status_code == 400 and "Link the postmortem" in answer.text
    assert 'id="incident-body"' in answer.text and "<html" not in answer.text
    done = client.post(f"/incidents/{incident.pk}/close",
                       {"postmortem_url": "https://wiki.example.com/pm/1"})  # fmt: skip
    assert done.status_code == 302
    incident.refresh_from_db()
    assert incident.state == "closed" and incident.postmortem_url.endswith("/pm/1")


def test_an_incidents_assessment_says_when_it_was_read_in_words(client, personas, incident):
    incident.assessment = {"read_at": "2026-12-05T14:03:07.123456+00:00", "error": "no answer"}
    incident.save(update_fields=["assessment"])
    _login(client, personas, "sre")
    html = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "<dt>Read at</dt><dd>2026-12-05 14:03:07 UTC</dd>" in html
    assert "2026-12-05T14:03" not in html


def test_a_backup_restore_check_or_rehearsal_job_links_to_its_backup_and_plan(
    client, personas, release, target, backup, plan, other_project
):
    """A backup job's page named the file it wrote, a restore check's and a rehearsal's
    the file they restored, with no way to the backup's page or the rollback plan."""

    def job(kind, **params):
        return Job.objects.create(project=release.project, release=release, target=target,
                                  kind=kind, state="succeeded", params=params)  # fmt: skip

    made = job("backup")
    BackupManifest.objects.filter(pk=backup.pk).update(job=made)
    backup_link = f'<a href="/backups/{backup.pk}/">{backup.file_name}</a>'
    plan_link = f'<a href="/rollbacks/{plan.pk}/">#{plan.pk}</a>'
    client.force_login(personas["auditor"])
    for j, links in [
        (made, [backup_link]),
        (job("restore_check", backup_id=backup.pk), [backup_link]),
        (job("rehearsal", plan_id=plan.pk), [plan_link, backup_link]),
    ]:
        facts = client.get(f"/jobs/{j.pk}/").content.decode().split('id="job-facts"', 1)[1]
        for link in links:
            assert link in facts, (j.kind, link)
    # A backup of another project named in a job's parameters is not linked.
    BackupManifest.objects.filter(pk=backup.pk).update(project=other_project)
    stray = job("restore_check", backup_id=backup.pk)
    facts = client.get(f"/jobs/{stray.pk}/").content.decode().split('id="job-facts"', 1)[1]
    assert f"/backups/{backup.pk}/" not in facts


def test_the_delete_card_says_where_the_files_go_from_in_words(client, personas, backup):
    """It read "Removes the dump and its manifest from local folder" (a choice's label)
    where "Kept in" above says "the portal's local backup folder"."""
    _login(client, personas, "sre")
    html = client.get(f"/backups/{backup.pk}/").content.decode()
    assert "Removes the dump and its manifest from the portal&#x27;s local backup folder;" in html
