"""The hostile-bundle corpus: a bundle that tries everything, run through every job kind that
executes bundle content, by the real job engine, in the sandbox.

Its migrations, RLS tests, fixtures, seeds and check script try: COPY TO/FROM PROGRAM,
psql's ``\\!`` and ``\\copy`` to a path, ``lo_import``, ``pg_read_file`` of the portal's key
files, ALTER SYSTEM, dblink and postgres_fdw to the portal's server by socket and by TCP,
reading /proc, writing /tmp, the portal's checkout and data folder, opening a network
connection, and sleeping past the time limit.

Asserted: the portal's database (memberships, change log) is unchanged and the chain still
verifies; no file appears outside the job's folder; no network connection arrives; no
secret or foreign variable shows up in any output; every job ends.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from psycopg import sql

from checklists.services.migrations import release_upload_archive
from checklists.services.releases import release_create
from migrations_ops.jobs.engine import job_execute
from migrations_ops.jobs.kinds import SANDBOX_KINDS
from migrations_ops.jobs.services import job_enqueue
from migrations_ops.models import Job
from migrations_ops.pg import pgtools, scratch
from release_portal.audit.verify import audit_verify
from tests.factories import TargetFactory, published_runbook, supabase_archive
from tests.security.hostile import (
    MB,
    Listener,
    WorkerPeak,
    check_script,
    files_outside,
    job_outputs,
    portal_state,
    psql_attacks,
    sql_attacks,
)

pytestmark = pytest.mark.django_db(transaction=True)

BASE_DIR = Path(settings.BASE_DIR)
FOREIGN_URL = "postgresql://shop:foreign-leak-marker-41c7@db.shop.example:5432/prod"
STAGING_PASSWORD = "staging-leak-marker-93b1"


@pytest.fixture
def listener() -> Iterator[Listener]:
    made = Listener()
    yield made
    made.close()


def _hostile_bundle(tok: str, port: int, portal_db: str) -> dict[str, str]:
    in_sql = sql_attacks(tok, port, portal_db)
    in_psql = psql_attacks(tok, port)
    roles = (
        "DO $$ BEGIN CREATE ROLE anon NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;\n"
        "DO $$ BEGIN CREATE ROLE authenticated NOLOGIN; "
        "EXCEPTION WHEN duplicate_object THEN NULL; END $$;\n"
    )
    return {
        "migrations/20250101000000_hostile.sql": in_sql + "create table app_ok (id int);\n",
        "rollbacks/20250101000000_hostile.sql": in_sql + "drop table app_ok;\n",
        "tests/fixtures/roles.sql": roles + in_psql + in_sql,
        "tests/fixtures/seed.sql": in_psql + in_sql,
        "tests/rls/hostile.test.sql": in_psql + in_sql + "select 1;\n",
        "scripts/check.sh": check_script(tok, port),
    }


@pytest.fixture
def hostile(project, platform_lead, release_engineer, listener, monkeypatch):
    """A release holding the hostile bundle, with a staging target on the shared server."""
    tok = f"rp-pwned-{uuid.uuid4().hex[:12]}"
    portal_db = connection.settings_dict["NAME"]
    published_runbook(project)
    project.fixture_files = ["supabase/tests/fixtures/roles.sql"]
    project.seed_files = ["supabase/tests/fixtures/seed.sql"]
    project.check_commands = [["sh", "supabase/scripts/check.sh"]]
    project.schemas = ["public"]
    project.save()
    with scratch.scratch_database(
        purpose="hostile_staging", server_url=pgtools.scratch_server_url()
    ) as staging:
        with_password = staging.replace("postgres@", f"postgres:{STAGING_PASSWORD}@", 1)
        monkeypatch.setenv("HOSTILE_STAGING_DATABASE_URL", with_password)
        monkeypatch.setenv("SHOP_PRODUCTION_DATABASE_URL", FOREIGN_URL)
        TargetFactory(project=project, url_env_var="HOSTILE_STAGING_DATABASE_URL")
        release = release_create(
            project=project, title="Hostile", owner=platform_lead, commit_sha="b" * 40,
            created_by=release_engineer,
        )  # fmt: skip
        release_upload_archive(
            release=release,
            data=supabase_archive(_hostile_bundle(tok, listener.port, portal_db)),
            filename="hostile.zip",
            actor=release_engineer,
        )
        release.refresh_from_db()
        yield {"tok": tok, "release": release, "staging": staging}


def test_the_hostile_bundle_reaches_nothing_of_the_portal(hostile, project, listener):
    tok = hostile["tok"]
    before = portal_state()
    target = project.targets.get()
    jobs = []
    for kind in sorted(SANDBOX_KINDS - {Job.Kind.RESTORE_CHECK, Job.Kind.REHEARSAL}):
        job = job_enqueue(kind=kind, project=project, release=hostile["release"], target=target)
        job_execute(job_id=job.pk, worker="hostile-test")
        job.refresh_from_db()
        jobs.append(job)

    # Every job ended, and really ran the hostile content in its sandbox.
    assert all(j.state in Job.FINAL_STATES for j in jobs), [(j.kind, j.state) for j in jobs]
    outputs = {j.kind: job_outputs(j) for j in jobs}
    assert "script-ran" in outputs[Job.Kind.COMMANDS], outputs[Job.Kind.COMMANDS][-2000:]
    assert "uid=61000" in outputs[Job.Kind.COMMANDS] or os.geteuid() != 0
    dry_run = Job.objects.get(kind=Job.Kind.DRY_RUN)
    assert dry_run.result.get("sandbox", {}).get("mode") == "bwrap", dry_run.summary
    # The risk and access jobs ran the hostile migrations and fixtures in the sandbox too.
    for kind in (Job.Kind.RISK, Job.Kind.ACCESS):
        ran = next(j for j in jobs if j.kind == kind)
        assert ran.result.get("sandbox", {}).get("mode") == "bwrap", (kind, ran.summary)

    # The portal's database: memberships and change log untouched, the chain intact.
    after = portal_state()
    assert after["memberships"] == before["memberships"]
    assert after["events"][: len(before["events"])] == before["events"]
    assert audit_verify().ok

    # Nothing written outside the job's folder, no connection out of the sandbox.
    assert files_outside(tok) == []
    assert listener.connections == 0

    # No secret, and no other project's variable, in anything a job stored.
    secrets = [
        os.environ["SECRET_KEY"],
        os.environ["AUDIT_HMAC_KEY"],
        "foreign-leak-marker-41c7",
        STAGING_PASSWORD,
        "HOSTILE_STAGING_DATABASE_URL=",
        "SHOP_PRODUCTION_DATABASE_URL",
    ]
    for kind, text in outputs.items():
        for secret in secrets:
            assert secret not in text, f"{secret!r} leaked into the {kind} job's output"


def test_a_hostile_sleep_ends_with_the_jobs_time_limit(
    hostile, project, release_engineer, settings
):
    """A statement blocks the worker inside libpq, where Celery's soft limit (a signal)
    cannot reach: the sandbox stops itself at the job's time limit."""
    settings.JOB_TIME_LIMITS = {**settings.JOB_TIME_LIMITS, "dry_run": 4}
    bundle = {
        "migrations/20250101000000_sleep.sql": (
            "SET statement_timeout = 0;\nSELECT pg_sleep(3600);\n"
        ),
        "tests/fixtures/roles.sql": "select 1;\n",
        "tests/fixtures/seed.sql": "select 1;\n",
    }
    release = hostile["release"]
    release_upload_archive(
        release=release, data=supabase_archive(bundle), filename="sleep.zip",
        actor=release_engineer,
    )  # fmt: skip
    job = job_enqueue(kind=Job.Kind.DRY_RUN, project=project, release=release,
                      target=project.targets.get())  # fmt: skip

    job_execute(job_id=job.pk, worker="hostile-test")

    job.refresh_from_db()
    assert job.state == Job.State.TIMED_OUT, (job.state, job.summary)
    assert "time limit of 4 seconds" in job.summary
    # The sandbox's cluster died with the job: no backend of it is left sleeping.
    sleeping = [
        p for p in Path("/proc").iterdir()
        if p.name.isdigit() and b"pg_sleep" in _read(p / "cmdline")
    ]  # fmt: skip
    assert sleeping == []
    assert list(Path(settings.PORTAL_SANDBOX_DIR, "jobs").iterdir()) == []


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def test_the_sandbox_cannot_read_a_root_only_file(sandbox, tmp_path):
    secret = tmp_path / "root-only"
    secret.write_text("root-only-secret-5e1d")
    secret.chmod(0o600)
    # Even given the file's path, the sandbox sees neither it nor its folder.
    done = sandbox.run(["/bin/sh", "-c", f"cat {secret} /etc/shadow; ls {tmp_path}; id -u"])
    out = done.stdout.decode() + done.stderr.decode()
    assert "root-only-secret-5e1d" not in out
    assert out.strip().splitlines()[-1] != "0"  # not root inside either


def test_the_sandbox_shows_no_path_of_the_portals_files(sandbox):
    """What a process inside can read about its own mounts and its sandbox's first process
    (/proc/self/mountinfo, /proc/1/environ) names no folder of the portal's: neither its
    checkout, its data folder nor its virtualenv (whose PostgreSQL the sandbox may run).
    The job log scrubs paths, but bundle content can print them in any disguise."""
    with psycopg.connect(sandbox.server_url(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT pg_read_binary_file('/proc/self/mountinfo') "
            "|| pg_read_binary_file('/proc/1/environ')"
        ).fetchone()
    assert row is not None
    done = sandbox.run(
        ["/bin/sh", "-c", "cat /proc/self/mountinfo /proc/1/environ /proc/self/environ; pwd"]
    )
    seen = (bytes(row[0]) + done.stdout).decode(errors="replace")
    assert "/proc" in seen or "tmpfs" in seen, seen[-2000:]
    for folder in {BASE_DIR, Path(settings.DATA_DIR).resolve(), Path(sys.prefix), Path.cwd()}:
        assert str(folder) not in seen, f"{folder} is named inside the sandbox"


def test_the_cluster_refuses_a_worker_without_the_jobs_password(sandbox):
    url = sandbox.server_url()
    wrong = url.replace(sandbox.cluster().password, "not-the-password")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(wrong, connect_timeout=5)
    # And the worker never settles for less than SCRAM: a server that trusts everyone
    # (e.g. a socket swapped for a link to another server) is refused.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("COPY (SELECT 'local all all trust') TO '/pg/data/pg_hba.conf'")
        conn.execute("SELECT pg_reload_conf()")
    with pytest.raises(psycopg.OperationalError, match="scram-sha-256"):
        for _ in range(50):  # the reload is asynchronous
            psycopg.connect(url, connect_timeout=5).close()


FLOODS = {
    # Notices, a huge error and gigabytes of rows, through libpq, in every scratch database.
    "migrations/20250101000000_flood.sql": (
        "DO $$ BEGIN FOR i IN 1..30 LOOP RAISE NOTICE '%', repeat('n', 10000000); END LOOP;"
        " END $$;\n"
        "SELECT repeat('x', 10000000) FROM generate_series(1, 80);\n"
        "DO $$ BEGIN RAISE EXCEPTION 'flood: %', repeat('e', 30000000); END $$;\n"
    ),
    "tests/fixtures/roles.sql": "\\! head -c 700M /dev/zero >&2\nselect 1;\n",
    "tests/fixtures/seed.sql": "\\! head -c 700M /dev/zero\nselect 1;\n",
    "tests/rls/flood.test.sql": (
        "\\! head -c 700M /dev/zero\n"
        "SELECT repeat('t', 10000000) FROM generate_series(1, 70);\n"
        "DO $$ BEGIN RAISE EXCEPTION 'flood: %', repeat('e', 30000000); END $$;\n"
    ),
    "scripts/check.sh": "#!/bin/sh\nyes \"$(head -c 30000 /dev/zero | tr '\\000' x)\"\n",
}


def run_watched(kind: str, project, release) -> tuple[Job, WorkerPeak]:
    """A ``kind`` job of ``release`` on the project's target, run to its end as a worker
    runs it, with the worker's peak memory measured around it."""
    job = job_enqueue(kind=kind, project=project, release=release, target=project.targets.get())
    with WorkerPeak() as peak:
        job_execute(job_id=job.pk, worker="hostile-test")
    job.refresh_from_db()
    assert job.state in Job.FINAL_STATES, (kind, job.state)
    return job, peak


def test_hostile_floods_neither_exhaust_the_worker_nor_fill_the_portals_database(
    hostile, project, release_engineer
):
    """Every job that runs the bundle, fed output without end: the worker holds none of
    it whole, and what the job stores (log, summary, error, result) stays small."""
    project.command_timeout_seconds = 15
    project.save()
    release = hostile["release"]
    release_upload_archive(
        release=release, data=supabase_archive(FLOODS), filename="flood.zip",
        actor=release_engineer,
    )  # fmt: skip
    for kind in [Job.Kind.DRY_RUN, Job.Kind.RLS, Job.Kind.FIXTURES, Job.Kind.COMMANDS]:
        job, peak = run_watched(kind, project, release)
        grown = peak.grown // MB
        assert peak.grown < 300 * MB, f"{kind}: the worker's peak memory rose by {grown} MB"
        assert len(json.dumps(job.result)) <= settings.JOB_RESULT_MAX_BYTES, kind
        assert len(job.error) <= 65 * 1024 and len(job.summary) <= 500, kind
        assert job.log_bytes <= settings.JOB_LOG_MAX_BYTES + 64 * 1024


JWT_SECRET = "jwt-secret-leak-marker-7d2e"


def test_the_targets_secret_settings_never_reach_the_sandbox(hostile, project, release_engineer):
    """Supabase keeps secrets in database settings (``app.settings.jwt_secret``). The jobs
    that copy the target's session defaults into a scratch database (so that its
    search_path holds ``extensions``) must not copy such values: a migration can print
    them in any disguise, past every redaction, and the job's readers are not the
    target's owners. The setting's name still exists there, empty."""
    database = psycopg.conninfo.conninfo_to_dict(hostile["staging"])["dbname"]
    with psycopg.connect(hostile["staging"], autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET app.settings.jwt_secret = {}").format(
                sql.Identifier(str(database)), sql.Literal(JWT_SECRET)
            )
        )
    leak = (
        "DO $$ BEGIN RAISE NOTICE 'seen: % %', upper(current_setting('app.settings.jwt_secret')),"
        " reverse(current_setting('app.settings.jwt_secret')); END $$;\n"
        "CREATE TABLE leaked AS SELECT current_setting('app.settings.jwt_secret') AS v;\n"
        "DO $$ BEGIN RAISE EXCEPTION 'seen: %', upper(current_setting('app.settings.jwt_secret'));"
        " END $$;\n"
    )
    bundle = {
        "migrations/20250101000000_leak.sql": leak,
        "tests/fixtures/roles.sql": "select 1;\n",
        "tests/fixtures/seed.sql": "select 1;\n",
    }
    release = hostile["release"]
    release_upload_archive(
        release=release, data=supabase_archive(bundle), filename="leak.zip",
        actor=release_engineer,
    )  # fmt: skip
    for kind in (Job.Kind.DRY_RUN, Job.Kind.ACCESS, Job.Kind.RISK):
        job, _ = run_watched(kind, project, release)
        text = job_outputs(job)
        assert "seen:" in text, (kind, job.summary)  # the migration ran and spoke
        for disguise in (JWT_SECRET, JWT_SECRET.upper(), JWT_SECRET[::-1]):
            assert disguise not in text, f"the target's secret setting reached the {kind} job"


def test_a_huge_test_folder_is_read_without_piling_up_words(hostile, project, release_engineer):
    """The fixtures job reads every test file (up to 2 MB each) for the names it mentions.
    Fifty files of short words, within the upload's limits, once made a list of every word
    in the worker: about twenty times the folder's size."""
    random = __import__("random").Random(7)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = " ".join(random.choice(letters) + random.choice(letters) for _ in range(600_000))
    bundle = {
        "migrations/20250101000000_ok.sql": "create table app_ok (id int);\n",
        "tests/fixtures/roles.sql": "select 1;\n",
        "tests/fixtures/seed.sql": "select 1;\n",
    }
    bundle |= {f"tests/words/{n:02d}.sql": f"-- {n}\n{words}\n" for n in range(50)}
    release = hostile["release"]
    release_upload_archive(
        release=release, data=supabase_archive(bundle, fmt="tar.gz"), filename="words.tar.gz",
        actor=release_engineer,
    )  # fmt: skip
    job, peak = run_watched(Job.Kind.FIXTURES, project, release)
    assert "app_ok" in job.summary or "app_ok" in json.dumps(job.result), job.summary
    assert peak.grown < 400 * MB, f"the worker's peak memory rose by {peak.grown // MB} MB"


def test_a_huge_statement_is_not_parsed_into_the_workers_memory(hostile, project, release_engineer):
    """The risk job parses each statement in the worker (libpg_query's tree, as JSON, then
    Python objects: some 400 times the statement's size). A 4 MB INSERT took 1.5 GB;
    statements past a bound are named unreadable instead."""
    values = ",".join(["(1)"] * 1_200_000)
    bundle = {
        "migrations/20250101000000_big.sql": (
            f"create table app_big (id int);\ninsert into app_big values {values};\n"
        ),
        "tests/fixtures/roles.sql": "select 1;\n",
        "tests/fixtures/seed.sql": "select 1;\n",
    }
    release = hostile["release"]
    release_upload_archive(
        release=release, data=supabase_archive(bundle, fmt="tar.gz"), filename="big.tar.gz",
        actor=release_engineer,
    )  # fmt: skip
    job, peak = run_watched(Job.Kind.RISK, project, release)
    assert "app_big" in json.dumps(job.result), job.summary
    assert peak.grown < 400 * MB, f"the worker's peak memory rose by {peak.grown // MB} MB"
