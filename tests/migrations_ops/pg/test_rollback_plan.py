"""The rollback plan, pure: steps, what each loses, the commands a person runs."""

from __future__ import annotations

from datetime import UTC, datetime

from migrations_ops.pg.rollback_plan import (
    BackupChoice,
    ReleaseMigration,
    build_plan,
    data_losses,
    suitable_backups,
)

APPLIED = ["20250101000000", "20250102000000", "20250103000000", "20250104000000"]
BACKUP = BackupChoice(
    id=7, file_name="20250102T120000Z_pre_migration.sql", format="plain",
    finished_at=datetime(2025, 1, 2, 12, 0, tzinfo=UTC),
    applied_versions=("20250101000000", "20250102000000"), schemas=("app", "public"),
    file_path="/backups/ibimina/production/20250102T120000Z_pre_migration.sql",
    snapshot_ref="daily-2025-01-02",
)  # fmt: skip


def _migrations(*, with_down_for=("20250103000000", "20250104000000")):
    return [
        ReleaseMigration(
            "20250103000000", "20250103000000_invoices.sql",
            "20250103000000_invoices.sql" if "20250103000000" in with_down_for else "",
            "drop table app.invoices;" if "20250103000000" in with_down_for else "",
        ),
        ReleaseMigration(
            "20250104000000", "20250104000000_phone.sql",
            "20250104000000_phone.sql" if "20250104000000" in with_down_for else "",
            "alter table app.accounts drop column phone;" if "20250104000000" in with_down_for
            else "",
        ),
    ]  # fmt: skip


def _plan(migrations, backup=BACKUP, applied=APPLIED):
    return build_plan(
        target_name="production", url_env_var="PROD_DATABASE_URL", applied_versions=applied,
        release_migrations=migrations, rollbacks_dir="supabase/rollbacks", backup=backup,
    )  # fmt: skip


def test_it_plans_down_scripts_newest_first_with_the_cli_commands():
    plan = _plan(_migrations())
    assert plan.last_good_version == "20250102000000"
    assert plan.target_version == "20250104000000"
    assert [s["version"] for s in plan.steps] == ["20250104000000", "20250103000000"]
    assert plan.steps[0]["commands"] == [
        'psql "$DB_URL" -v ON_ERROR_STOP=1 --single-transaction '
        "-f supabase/rollbacks/20250104000000_phone.sql",
        'supabase migration repair --status reverted 20250104000000 --db-url "$DB_URL"',
    ]
    assert plan.steps[1]["loses_text"] == "destroys data in table app.invoices"
    assert plan.preamble.startswith('export DB_URL="$PROD_DATABASE_URL"')
    assert not plan.problems


def test_it_replaces_the_steps_after_a_missing_down_script_with_one_restore():
    plan = _plan(_migrations(with_down_for=("20250103000000",)))
    assert [s["kind"] for s in plan.steps] == ["restore"]
    restore = plan.steps[0]
    assert restore["reverts"] == ["20250104000000", "20250103000000"]
    assert restore["loses_text"].startswith("writes since 2025-01-02 12:00:00 UTC are lost")
    assert restore["commands"][0] == (
        'psql "$DB_URL" -v ON_ERROR_STOP=1 --single-transaction -c \'DROP SCHEMA IF EXISTS '
        '"app", "public" CASCADE\' -f '
        "/backups/ibimina/production/20250102T120000Z_pre_migration.sql"
    )
    assert restore["commands"][1].startswith(
        "supabase migration repair --status reverted 20250104000000 20250103000000"
    )
    assert "daily-2025-01-02" in restore["alternative"]


def test_it_keeps_down_steps_before_the_restore():
    plan = _plan(_migrations(with_down_for=("20250104000000",)))
    assert [s["kind"] for s in plan.steps] == ["down", "restore"]
    assert plan.steps[1]["reverts"] == ["20250103000000"]


def test_it_cannot_plan_a_restore_without_a_verified_backup():
    plan = _plan(_migrations(with_down_for=()), backup=None)
    assert plan.problems and "no verified backup" in plan.problems[0]


def test_it_is_prepared_before_deployment_for_every_migration_of_the_release():
    # The runbook prepares the rollback before production apply: the plan undoes all of
    # the release's migrations, and the rollback job skips those not applied when it runs.
    plan = _plan(_migrations(), applied=APPLIED[:2])
    assert [v for step in plan.steps for v in step["reverts"]] == plan.undo_versions
    assert plan.undo_versions == sorted(plan.release_versions, reverse=True)
    assert plan.last_good_version == APPLIED[1]
    assert "prepared before deployment" in plan.warnings[0]


def test_it_warns_about_newer_migrations_from_elsewhere():
    plan = _plan(_migrations(), applied=[*APPLIED, "20250105000000"])
    assert plan.last_good_version == "20250105000000"
    assert any("20250105000000" in w for w in plan.warnings)


def test_it_reads_what_a_down_script_destroys():
    sql = """
    -- undo
    DROP TABLE IF EXISTS app.a, "app"."B" CASCADE;
    ALTER TABLE ONLY app.c DROP COLUMN x, DROP CONSTRAINT c_pk, ALTER y DROP DEFAULT;
    ALTER TABLE app.d DROP IF EXISTS z;
    TRUNCATE TABLE app.e RESTART IDENTITY;
    DELETE FROM app.f WHERE true;
    DROP SCHEMA billing CASCADE;
    CREATE INDEX i ON app.g (id);
    """
    assert data_losses(sql) == [
        "table app.a", "table app.B", "column app.c.x", "column app.d.z",
        "table app.e (all rows)", "table app.f (deleted rows)", "every table in schema billing",
    ]  # fmt: skip
    assert data_losses("create table app.x (id int);") == []


def test_it_chooses_backups_taken_before_the_release():
    after = BackupChoice(
        id=8, file_name="late.sql", format="plain", finished_at=datetime(2025, 1, 5, tzinfo=UTC),
        applied_versions=tuple(APPLIED), schemas=("app",),
    )  # fmt: skip
    assert [b.id for b in suitable_backups([after, BACKUP], ["20250104000000"])] == [7]
