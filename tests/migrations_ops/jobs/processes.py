"""Throwaway servers and real worker processes for the fault tests and the benchmark.

Never the shared Redis: each RedisServer is a fresh `redis-server` on a free port, with
no persistence, stopped by the test that started it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kombu.pools
import redis

BASE_DIR = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition: Callable[[], object], *, timeout: float = 20, what: str = "it") -> object:
    """Poll ``condition`` until it is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class RedisServer:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(self._answers, timeout=10, what=f"redis-server on port {self.port}")
        return self

    def _answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.exceptions.ConnectionError:
            return False

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=1)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def queue_length(self, queue: str = "checks") -> int:
        return int(self.client().llen(queue))


def reset_celery_pools() -> None:
    """Close the Celery app's connection and producer pools so its next message opens a
    connection to the broker it is pointed at now. The producer pools live in kombu's
    global registry, keyed by connection: without kombu's reset the app would be handed
    the old producer pool back, over the pool just closed ("Acquire on closed pool")."""
    from release_portal.celery import app as celery_app

    app: Any = celery_app  # its connection pools are private; tests reset them
    kombu.pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@contextlib.contextmanager
def celery_broker(url: str) -> Iterator[None]:
    """Point this process's Celery app at ``url`` (the tests' default is memory://)."""
    from release_portal.celery import app as celery_app

    app: Any = celery_app

    # Celery reads CELERY_BROKER_URL from the environment before its own settings.
    saved = (os.environ.get("CELERY_BROKER_URL"), app.conf.broker_transport_options)
    os.environ["CELERY_BROKER_URL"] = url
    app.conf.broker_transport_options = {"visibility_timeout": 3600}
    reset_celery_pools()
    try:
        yield
    finally:
        if saved[0] is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved[0]
        app.conf.broker_transport_options = saved[1]
        reset_celery_pools()


class Worker:
    """`celery -A release_portal worker` in its own process group, against the test DB."""

    def __init__(
        self,
        *,
        broker_url: str,
        database_name: str,
        log_path: Path,
        concurrency: int = 1,
        env: dict[str, str] | None = None,
        queues: str = "checks,backups,portal",
    ) -> None:
        self.log_path = log_path
        self.queues = queues
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.migrations_ops.jobs.worker_settings",
            "JOBS_WORKER_DATABASE_NAME": database_name,
            "CELERY_BROKER_URL": broker_url,
            "PYTHONPATH": str(BASE_DIR),
            **(env or {}),
        }
        self.env = env
        self.concurrency = str(concurrency)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        name = f"jobs-test-{os.getpid()}-{free_port()}@%h"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "release_portal", "worker",
                 "-Q", self.queues, "-c", self.concurrency, "-P", "prefork", "-n", name,
                 "--without-mingle", "--without-gossip", "--without-heartbeat", "-l", "INFO"],
                cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: SIGKILL reaches the pool too
            )  # fmt: skip
        wait_for(lambda: " ready." in self.log(), timeout=30, what="the worker to be ready")
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tasks_done(self) -> int:
        return self.log().count("succeeded in")

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes, as a crashed machine would."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
