"""The hostile-bundle corpus (tests/security/test_hostile_bundle.py) for the SRE's jobs.

A restore check and a rollback rehearsal run code from the backup (an expression index
calls a function while it is rebuilt, and the function acts only in a scratch database)
and from the bundle (fixtures through psql, down scripts). In the sandbox none of it
reaches the portal: no file outside the job folder, no connection out, no secret in any
output, the portal's database and change log untouched.
"""

from __future__ import annotations

import os
import uuid

import psycopg
import pytest
from django.db import connection

from migrations_ops.backups.services import backup_capture
from migrations_ops.models import Job
from migrations_ops.rollback.services import rehearsal_start, rollback_plan_save
from release_portal.audit.verify import audit_verify
from tests.security.hostile import (
    Listener,
    files_outside,
    job_outputs,
    portal_state,
    psql_attacks,
    sql_attacks,
)
from tests.sre_fixtures import FILES, deploy, make_release, queued, run_job

pytestmark = pytest.mark.usefixtures("transactional_db", "sent")


@pytest.fixture
def listener():
    made = Listener()
    yield made
    made.close()


def _restore_time_attack(tok: str, port: int) -> str:
    """A function an expression index calls: harmless on production, hostile in scratch."""
    program = (
        f"touch /tmp/{tok}-restore; env; "
        f"python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 2)\""
    ).replace("'", "''")
    return f"""
CREATE FUNCTION app.evil(i bigint) RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS $f$
BEGIN
  IF current_database() LIKE 'rp_scratch_%' AND i = 1 THEN
    BEGIN
      EXECUTE 'COPY (SELECT 1) TO PROGRAM ''{program}''';
    EXCEPTION WHEN others THEN RAISE NOTICE 'blocked: %', SQLERRM;
    END;
  END IF;
  RETURN i;
END $f$;
CREATE INDEX accounts_evil ON app.accounts ((app.evil(id)));
"""


def test_restore_check_and_rehearsal_keep_hostile_content_in_the_sandbox(
    production, sre_project, platform_lead, target, sre, listener
):
    tok = f"rp-pwned-{uuid.uuid4().hex[:12]}"
    portal_db = connection.settings_dict["NAME"]
    with psycopg.connect(production.url, autocommit=True) as conn:
        conn.execute(_restore_time_attack(tok, listener.port).encode())
    attacks = sql_attacks(tok, listener.port, portal_db)
    files = dict(FILES)
    # In a schema of their own: the backup re-creates public, so a fixture may not use it.
    files["tests/fixtures/roles.sql"] += (
        "CREATE SCHEMA IF NOT EXISTS evil;\nSET search_path = evil;\n"
        + psql_attacks(tok, listener.port)
        + attacks
        + "RESET search_path;\n"
    )
    for name in [n for n in files if n.startswith("rollbacks/")]:
        files[name] = attacks + files[name]
    release = make_release(sre_project, platform_lead, files=files)
    before = portal_state()

    run_job(backup_capture(release=release, target=target, user=sre))
    check = run_job(queued(Job.Kind.RESTORE_CHECK))
    deploy(production.url)
    plan = rollback_plan_save(release=release, target=target, user=sre)
    rehearsal = run_job(rehearsal_start(plan=plan, user=sre))

    jobs = [check, rehearsal]
    assert check.state == Job.State.SUCCEEDED, check.summary
    # The rehearsal may fail (the down scripts leave extensions behind): it must end.
    assert rehearsal.state in Job.FINAL_STATES, rehearsal.summary
    assert all(j.result["sandbox"]["mode"] == "bwrap" for j in jobs), [j.result for j in jobs]
    after = portal_state()
    assert after["memberships"] == before["memberships"]
    assert after["events"][: len(before["events"])] == before["events"]
    assert audit_verify().ok
    assert files_outside(tok) == []
    assert listener.connections == 0
    for job in jobs:
        text = job_outputs(job)
        for secret in (os.environ["SECRET_KEY"], os.environ["AUDIT_HMAC_KEY"]):
            assert secret not in text, f"a secret leaked into the {job.kind} job's output"


def test_bundle_code_never_reads_productions_secret_settings_in_the_rehearsal(
    production, sre_project, platform_lead, target, sre
):
    """The rehearsal runs the release's migrations in the database the production backup
    is restored into; an event trigger one leaves fires on the plan's statements, in a
    session that would see the backup's database settings. A custom one (where Supabase
    keeps the JWT secret) is re-applied there empty, so no spelling of it reaches the job."""
    tok = f"rp-jwt-{uuid.uuid4().hex[:12]}"
    with psycopg.connect(production.url, autocommit=True) as conn:
        database = conn.info.dbname
        conn.execute(f"ALTER DATABASE \"{database}\" SET app.settings.jwt_secret = '{tok}'")
    files = dict(FILES)
    name = "migrations/20250103000000_invoices.sql"
    files[name] = """
CREATE SCHEMA IF NOT EXISTS evil;
CREATE FUNCTION evil.leak() RETURNS event_trigger LANGUAGE plpgsql AS $f$
BEGIN
  RAISE WARNING 'leak % %', reverse(coalesce(current_setting('app.settings.jwt_secret', true),
    '-')), upper(coalesce(current_setting('app.settings.jwt_secret', true), '-'));
END $f$;
CREATE EVENT TRIGGER leak ON ddl_command_end EXECUTE FUNCTION evil.leak();
""" + files[name]
    release = make_release(sre_project, platform_lead, files=files)
    run_job(backup_capture(release=release, target=target, user=sre))
    check = run_job(queued(Job.Kind.RESTORE_CHECK))
    deploy(production.url, files)
    plan = rollback_plan_save(release=release, target=target, user=sre)
    rehearsal = run_job(rehearsal_start(plan=plan, user=sre))

    assert check.state == Job.State.SUCCEEDED, check.summary
    assert rehearsal.state in Job.FINAL_STATES, rehearsal.summary
    text = job_outputs(rehearsal)
    assert "leak " in text  # the trigger did fire on the plan's statements
    for spelling in (tok, tok[::-1], tok.upper()):
        assert spelling not in text, "production's secret setting reached the rehearsal"


def _row_thief(tok: str) -> str:
    """A fixture that leaves an event trigger behind: on every statement of the restore
    (and of the rehearsal's migrations) it looks for production's rows and prints the
    one it finds into the log (a warning) and into the result (an error)."""
    return f"""
CREATE SCHEMA IF NOT EXISTS evil;
CREATE FUNCTION evil.steal() RETURNS event_trigger LANGUAGE plpgsql AS $f$
DECLARE found text;
BEGIN
  IF to_regclass('public.profiles') IS NOT NULL THEN
    EXECUTE 'SELECT string_agg(bio, '','') FROM public.profiles WHERE bio LIKE ''{tok}%'''
      INTO found;
    IF found IS NOT NULL THEN
      RAISE WARNING 'stolen: %', found;
      RAISE EXCEPTION 'stolen: %', found;
    END IF;
  END IF;
END $f$;
CREATE EVENT TRIGGER steal ON ddl_command_end EXECUTE FUNCTION evil.steal();
"""  # noqa: S608


def test_a_fixture_never_reads_a_production_row_in_the_restore_check_or_the_rehearsal(
    production, sre_project, platform_lead, target, sre, client
):
    """A restore check and a rehearsal put a backup *of production* in a sandbox; the
    release's fixtures (bundle content) never run beside its rows, so none of them
    reaches a log or a result every member of the project reads. The backup still
    restores, and the release's migrations still apply and roll back on it."""
    tok = f"rp-row-{uuid.uuid4().hex[:12]}"
    with psycopg.connect(production.url, autocommit=True) as conn:
        conn.execute("UPDATE public.profiles SET bio = %s WHERE id = 7", [f"{tok}-ana@example.com"])
    files = dict(FILES)
    files["tests/fixtures/roles.sql"] += _row_thief(tok)
    release = make_release(sre_project, platform_lead, files=files)

    run_job(backup_capture(release=release, target=target, user=sre))
    check = run_job(queued(Job.Kind.RESTORE_CHECK))
    assert tok not in job_outputs(check), "a production row reached the restore check"
    assert check.state == Job.State.SUCCEEDED, check.summary
    deploy(production.url)
    plan = rollback_plan_save(release=release, target=target, user=sre)
    rehearsal = run_job(rehearsal_start(plan=plan, user=sre))

    assert tok not in job_outputs(rehearsal), "a production row reached the rehearsal"
    assert rehearsal.state == Job.State.SUCCEEDED, rehearsal.summary
    for job in (check, rehearsal):
        setup = job.result["setup"]
        assert any("tests/fixtures/roles.sql" in line for line in setup["not_run"]), setup
        assert not any("/tmp" in line for line in setup["not_run"] + setup["ran"]), setup
    assert any("migration(s)" in line for line in rehearsal.result["setup"]["ran"])
    client.force_login(sre)
    for job in (check, rehearsal):  # the job's page says it too
        page = client.get(f"/jobs/{job.pk}/").content.decode()
        assert "Not run" in page and "fixtures (supabase/tests/fixtures/roles.sql)" in page
        assert tok not in page
