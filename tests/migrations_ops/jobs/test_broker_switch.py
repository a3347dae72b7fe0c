"""The tests point the Celery app at other brokers (a throwaway Redis, the filesystem
broker) and back: afterwards the app must still send, or every later test's on-commit
job message fails ("Acquire on closed pool") and is only logged."""

from __future__ import annotations

from typing import Any

from release_portal.celery import app as celery_app
from tests.migrations_ops.jobs.processes import celery_broker


def publish(app: Any) -> None:
    with app.producer_or_acquire() as producer:
        producer.publish({"ping": 1}, routing_key="rp-test-broker-switch", declare=[])


def test_the_app_still_sends_after_pointing_at_another_broker_and_back():
    app: Any = celery_app
    default = app.connection_for_write().as_uri()
    publish(app)  # the default broker's producer pool exists, as after any earlier test
    with celery_broker("redis://127.0.0.1:6379/15"):
        assert app.connection_for_write().as_uri().startswith("redis://")
    assert app.connection_for_write().as_uri() == default
    publish(app)
