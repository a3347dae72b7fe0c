"""Plans from the live history, rehearsals on a scratch copy with data, rollbacks for real."""

from __future__ import annotations

import psycopg
import pytest

from checklists.models import Evidence
from checklists.services.items import items_for_evidence
from migrations_ops.backups.services import backup_capture
from migrations_ops.models import BackupManifest, Job, RollbackPlan
from migrations_ops.pg.rollback_lock import target_lock
from migrations_ops.rollback.services import rehearsal_start, rollback_plan_save
from release_portal.audit.models import AuditEvent
from tests.sre_fixtures import (
    FILES,
    columns,
    deploy,
    history,
    make_release,
    queued,
    run_job,
    verified_backup,
)

pytestmark = pytest.mark.usefixtures("transactional_db", "sent")


def run_rollback(plan: RollbackPlan, sre) -> Job:
    """The plan's rollback of its target, queued by ``sre`` and run as a worker runs it."""
    from migrations_ops.jobs import job_enqueue

    return run_job(
        job_enqueue(kind="rollback", project=plan.project, release=plan.release,
                    target=plan.target, params={"plan_id": plan.pk}, created_by=sre)
    )  # fmt: skip


def test_it_rehearses_a_plan_of_down_scripts_and_passes_the_evidence(
    production, release, target, sre
):
    verified_backup(release, target, sre)
    deploy(production.url)
    plan = rollback_plan_save(release=release, target=target, user=sre)
    assert plan.last_good_version == "20250102000000"
    assert plan.verified_target_version == "20250104000000"
    assert [s["kind"] for s in plan.steps] == ["down", "down"]
    assert [s["version"] for s in plan.steps] == ["20250104000000", "20250103000000"]
    assert plan.steps[0]["loses_text"] == "destroys data in column app.accounts.phone"
    assert plan.steps[1]["loses_text"] == "destroys data in table app.invoices"
    item = items_for_evidence(release, "rollback_plan")[0]
    assert item.evidence.get().status == Evidence.Status.INFO

    job = run_job(rehearsal_start(plan=plan, user=sre))
    assert job.state == Job.State.SUCCEEDED, job.summary
    assert job.result["differences"] == {}
    assert job.result["history_after"] == ["20250101000000", "20250102000000"]
    assert "app.invoices" in str(job.result["migrations_changed"])
    assert job.scratch_databases == []  # dropped
    plan.refresh_from_db()
    assert plan.rehearsal_state == RollbackPlan.Rehearsal.PASSED
    newest = item.evidence.order_by("-created_at").first()
    assert newest.status == Evidence.Status.PASSED
    assert "phone" in columns(production.url, "app.accounts")  # the target was not touched


def test_the_change_log_names_plans_and_backups_by_their_target_not_by_ids(
    production, release, target, sre
):
    """The audit page read "rehearsed “Rollback plan #1 for release 1 on 2”" and a backup
    as "x.sql (2)": row ids where an auditor needs the target's name."""
    backup = verified_backup(release, target, sre)
    plan = rollback_plan_save(release=release, target=target, user=sre)
    rehearsal_start(plan=RollbackPlan.objects.get(pk=plan.pk), user=sre)  # as a view loads it
    names = dict(AuditEvent.objects.values_list("action", "object_repr"))
    assert names["rollback_plan.save"] == f"Rollback plan #{plan.pk} for {target.name}"
    assert names["rollback_plan.rehearse"] == f"Rollback plan #{plan.pk} for {target.name}"
    assert names["backup.record"] == f"{backup.file_name} ({target.name})"


def test_it_fails_a_rehearsal_whose_down_script_leaves_the_schema_different(
    production, sre_project, target, sre, platform_lead
):
    files = {**FILES, "rollbacks/20250104000000_account_phone.sql": "select 1;\n"}
    release = make_release(sre_project, platform_lead, files)
    verified_backup(release, target, sre)
    deploy(production.url, files)
    plan = rollback_plan_save(release=release, target=target, user=sre)

    job = run_job(rehearsal_start(plan=plan, user=sre))
    assert job.state == Job.State.FAILED
    assert "app.accounts" in job.summary and "schema differs" in job.summary
    plan.refresh_from_db()
    assert plan.rehearsal_state == RollbackPlan.Rehearsal.FAILED


def test_it_plans_a_restore_where_a_down_script_is_missing_and_rehearses_it(
    production, sre_project, target, sre, platform_lead
):
    files = {k: v for k, v in FILES.items() if k != "rollbacks/20250103000000_invoices.sql"}
    release = make_release(sre_project, platform_lead, files)
    verified_backup(release, target, sre)
    deploy(production.url, files)
    plan = rollback_plan_save(release=release, target=target, user=sre)
    assert [s["kind"] for s in plan.steps] == ["down", "restore"]
    restore = plan.steps[1]
    assert restore["reverts"] == ["20250103000000"]
    assert restore["loses_text"].startswith("writes since ")
    assert plan.backup is not None and restore["file"] == plan.backup.file_name
    assert any(c.startswith('psql "$DB_URL"') and "DROP SCHEMA" in c for c in restore["commands"])
    assert restore["commands"][-1] == (
        'supabase migration repair --status reverted 20250103000000 --db-url "$DB_URL"'
    )

    job = run_job(rehearsal_start(plan=plan, user=sre))
    assert job.state == Job.State.SUCCEEDED, job.summary


def test_it_rolls_back_the_target_holding_its_deploy_lock(production, release, target, sre):
    verified_backup(release, target, sre)
    deploy(production.url)
    production.execute("insert into app.invoices values (1000, 1, 5)")
    plan = rollback_plan_save(release=release, target=target, user=sre)

    with target_lock(target.pk, target_name=target.name):
        locked = run_rollback(plan, sre)
    assert locked.state == Job.State.FAILED
    assert "production is locked" in locked.summary
    assert history(production.url)[-1] == "20250104000000"  # nothing ran

    job = run_rollback(plan, sre)
    assert job.state == Job.State.SUCCEEDED, job.summary
    assert history(production.url) == ["20250101000000", "20250102000000"]
    assert "phone" not in columns(production.url, "app.accounts")
    assert columns(production.url, "app.invoices") == []
    assert production.count("app.orders") == 4000  # untouched
    assert "Repaired migration history: [20250104000000] => reverted" in "\n".join(
        job.log_lines.values_list("text", flat=True)
    )


def test_it_stops_at_a_failing_down_script_with_its_line(
    production, sre_project, target, sre, platform_lead
):
    bad = (
        "alter table app.accounts drop column phone;\n\n"
        "alter table app.accounts\n  drop column telephone;\n"
    )
    files = {**FILES, "rollbacks/20250104000000_account_phone.sql": bad}
    release = make_release(sre_project, platform_lead, files)
    verified_backup(release, target, sre)
    deploy(production.url, files)
    plan = rollback_plan_save(release=release, target=target, user=sre)

    job = run_rollback(plan, sre)
    assert job.state == Job.State.FAILED
    assert "20250104000000_account_phone.sql line 3 (statement 2)" in job.summary
    assert "telephone" in job.summary and "42703" in job.summary
    assert "step 1 of 2" in job.summary
    # As psql -1 and the CLI leave it: the script rolled back, history and data kept.
    assert history(production.url)[-2:] == ["20250103000000", "20250104000000"]
    assert "phone" in columns(production.url, "app.accounts")
    with psycopg.connect(production.url) as conn:
        assert conn.execute("select count(*) from app.invoices").fetchone()[0] == 25


def test_it_refuses_a_plan_made_for_another_state_of_the_target(production, release, target, sre):
    verified_backup(release, target, sre)
    deploy(production.url)
    plan = rollback_plan_save(release=release, target=target, user=sre)
    production.execute(
        "insert into supabase_migrations.schema_migrations (version) values ('20250105000000')"
    )

    job = run_rollback(plan, sre)
    assert job.state == Job.State.FAILED
    assert "history outside this release changed" in job.summary
    assert "phone" in columns(production.url, "app.accounts")


def test_a_plan_prepared_before_deployment_rolls_back_a_deploy_that_failed_midway(
    production, release, target, sre
):
    # The runbook's order: backup, rollback plan, then production apply. Here the deploy
    # applies only the first of the release's two migrations before it fails.
    verified_backup(release, target, sre)
    plan = rollback_plan_save(release=release, target=target, user=sre)
    assert plan.verified_target_version == "20250102000000"
    deploy(production.url, versions=["20250103000000"])

    job = run_rollback(plan, sre)
    assert job.state == Job.State.SUCCEEDED, job.summary
    assert history(production.url) == ["20250101000000", "20250102000000"]
    log = "\n".join(job.log_lines.values_list("text", flat=True))
    assert "skipping" in log and "20250104000000" in log


def test_a_plain_dump_an_older_pg_dump_wrote_is_not_run_with_psql_on_the_worker(
    production, sre_project, target, sre, platform_lead
):
    """pg_dump before 13.22/14.19/15.14/16.10/17.6 writes no ``\\restrict``: its script can
    carry psql commands in the database's own object names (CVE-2025-8714). A rollback's
    restore runs psql on the worker, outside the sandbox: such a dump is refused there,
    before anything touches the target."""
    import hashlib
    import json

    from migrations_ops.backups.storage import storage_for

    files = {k: v for k, v in FILES.items() if k != "rollbacks/20250103000000_invoices.sql"}
    release = make_release(sre_project, platform_lead, files)
    backup = verified_backup(release, target, sre)
    deploy(production.url, files)
    plan = rollback_plan_save(release=release, target=target, user=sre)
    storage = storage_for(backup.storage, backup.location)
    dump, manifest = storage.local_path(backup.file_key), storage.local_path(backup.manifest_key)
    assert dump is not None and manifest is not None
    # As an older pg_dump writes it (and a manifest that vouches for it).
    old = b"".join(
        line for line in dump.read_bytes().splitlines(keepends=True)
        if not line.startswith((b"\\restrict ", b"\\unrestrict "))
    )  # fmt: skip
    dump.write_bytes(old)
    record = json.loads(manifest.read_text())
    record["size"], record["sha256"] = len(old), hashlib.sha256(old).hexdigest()
    manifest.write_text(json.dumps(record))

    job = run_rollback(plan, sre)
    assert job.state == Job.State.FAILED
    assert "nothing was run" in job.summary and "no \\restrict line" in job.summary
    assert "CVE-2025-8714" in job.summary
    assert history(production.url)[-1] == "20250104000000"  # not even the down script ran


def test_a_custom_dump_an_older_pg_restore_would_script_is_not_run_on_the_worker(
    production, sre_project, target, sre, platform_lead, tmp_path
):
    """A custom dump becomes a script through pg_restore before psql runs it on the
    worker: a pg_restore before 13.22/14.19/15.14/16.10/17.6 writes no ``\\restrict``, so
    object names (which the release's migrations chose) could carry psql commands
    (CVE-2025-8714). The rollback refuses before its first step; a current one passes."""
    import json

    from migrations_ops.backups.storage import storage_for
    from migrations_ops.pg.rollback_execute import writes_restrict

    assert [writes_restrict(v) for v in ("15.13", "15.20-0+deb12u1)", "17.5", "17.6", "18.0")] \
        == [False, True, False, True, True]  # fmt: skip
    files = {k: v for k, v in FILES.items() if k != "rollbacks/20250103000000_invoices.sql"}
    release = make_release(sre_project, platform_lead, files)
    made = run_job(backup_capture(release=release, target=target, user=sre, fmt="custom"))
    assert run_job(queued(Job.Kind.RESTORE_CHECK)).state == Job.State.SUCCEEDED
    backup = BackupManifest.objects.get(job=made)
    deploy(production.url, files)
    plan = rollback_plan_save(release=release, target=target, user=sre)
    manifest = storage_for(backup.storage, backup.location).local_path(backup.manifest_key)
    assert manifest is not None
    # The installation that made it still has its pg_restore 15.13 (a stand-in that only
    # says its version: the rollback must refuse before it runs it on the dump).
    old = tmp_path / "pg15.13" / "bin"
    old.mkdir(parents=True)
    (old / "pg_restore").write_text("#!/bin/sh\necho 'pg_restore (PostgreSQL) 15.13'\n")
    (old / "pg_restore").chmod(0o755)
    record = json.loads(manifest.read_text())
    record["pg_dump"] = {"path": str(old / "pg_dump"), "version": "15.13"}
    manifest.write_text(json.dumps(record))

    job = run_rollback(plan, sre)
    assert job.state == Job.State.FAILED
    assert "nothing was run" in job.summary and "pg_restore 15.13" in job.summary
    assert history(production.url)[-1] == "20250104000000"  # not even the down script ran
