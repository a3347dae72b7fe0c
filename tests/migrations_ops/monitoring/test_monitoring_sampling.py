"""Health queries run read-only, bounded in time, and never show the target's URL."""

from __future__ import annotations

import psycopg
import pytest

from migrations_ops.monitoring import sampling
from migrations_ops.monitoring.models import HealthQuery, HealthSample
from migrations_ops.monitoring.services import record_samples

WRITE_THROUGH_CTE = (
    "with added as (insert into app_flags values (1) returning 1) select count(*) from added"
)


def read(url, *queries, timeout_ms=2000):
    return sampling.read_all(
        url, list(enumerate(queries)), target="production", timeout_ms=timeout_ms
    )


@pytest.fixture
def flags(production_db):
    with psycopg.connect(production_db, autocommit=True) as conn:
        conn.execute("create table app_flags (id int)")
    return production_db


def test_it_reads_one_number_per_query(flags):
    (reading,) = read(flags, "select 41 + 1")
    assert (reading.raw, reading.error) == (42.0, "")


def test_project_sql_cannot_write_to_the_target(flags):
    (reading,) = read(flags, WRITE_THROUGH_CTE)
    assert reading.raw is None
    assert "read-only transaction" in reading.error
    with psycopg.connect(flags) as conn:
        assert conn.execute("select count(*) from app_flags").fetchone()[0] == 0


def test_a_second_statement_is_refused_by_the_server_too(flags):
    # check_health_sql refuses it when saved; the extended protocol refuses it anyway.
    (reading,) = read(flags, "select 1; delete from app_flags")
    assert "cannot insert multiple commands" in reading.error


def test_a_slow_query_is_cancelled_by_the_statement_timeout(flags):
    slow, fast = read(flags, "select count(*) from pg_sleep(5)", "select 1", timeout_ms=200)
    assert "statement timeout" in slow.error
    assert fast.raw == 1.0  # the next query still runs on the same connection


def test_a_value_that_is_not_a_number_is_an_error(flags):
    (reading,) = read(flags, "select 'many'")
    assert reading.error == "the query returned 'many', not a number"


def test_connection_errors_never_show_the_url_or_password():
    url = "postgresql://monitor:hunter2-secret@127.0.0.1:1/prod"
    (reading,) = read(url, "select 1")
    assert reading.error.startswith("could not connect to production")
    assert "hunter2-secret" not in reading.error and url not in reading.error


def test_an_unset_url_says_so():
    (reading,) = read(None, "select 1")
    assert reading.error == (
        "no database URL for production: set the environment variable the project's settings "
        "name for it where the portal and its workers run"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("select 1; select 2", "exactly one statement"),
        ("delete from app_flags", "start it with SELECT or WITH"),
        ("select pg_terminate_backend(pid) from pg_stat_activity", "pg_terminate_backend()"),
        ("select count(*) from dblink('x', 'select 1') as t(a int)", "dblink()"),
        ("select pg_advisory_lock(1)", "pg_advisory_lock()"),
    ],
)
def test_it_refuses_sql_that_is_not_one_harmless_read(text, message):
    with pytest.raises(
        sampling.HealthSqlError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        sampling.check_health_sql(text)


@pytest.mark.django_db
def test_a_counter_query_compares_the_change_since_the_last_sample(window):
    query = HealthQuery.objects.create(
        project=window.release.project, name="errors", sql="select 1", threshold=5, delta=True
    )
    at = window.started_at
    for raw in (100.0, 103.0, 110.0, 2.0):
        record_samples(
            window_id=window.pk, queries=[query],
            readings=[sampling.Reading(query.pk, raw=raw)], at=at,
        )  # fmt: skip
    series = list(HealthSample.objects.filter(query=query).order_by("pk"))
    # Baseline, +3, +7 (over 5: alert), counter reset (the raw value is the change).
    assert [(s.value, s.ok) for s in series] == [
        (0.0, True), (3.0, True), (7.0, False), (2.0, True)]  # fmt: skip
