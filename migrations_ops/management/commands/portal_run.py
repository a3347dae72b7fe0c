"""Start web, the Celery workers and Celery beat together in the foreground; Ctrl-C stops all.

Used by `make run`. The demo's staging and production databases live on the portal's own
server; their URLs (as the demo role, see migrations_ops.demo) are put into the
environment of the processes under the names the demo project's targets use, and
PORTAL_TARGET_VARS allows the demo project those two names.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from migrations_ops.demo import (
    DEMO_PASSWORD,
    DEMO_TARGET_DATABASES,
    DEMO_USERS,
    demo_target_url,
    with_demo_target_vars,
)


class Command(BaseCommand):
    help = "Run the portal: gunicorn, the Celery workers and Celery beat (Ctrl-C stops all)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument(
            "--workers", type=int, default=2, help="Celery worker processes for jobs."
        )

    def handle(self, *args, **options):
        port = options["port"]
        env = dict(os.environ)
        for env_name, database in DEMO_TARGET_DATABASES.items():
            env.setdefault(env_name, demo_target_url(database))
        env["PORTAL_TARGET_VARS"] = with_demo_target_vars(env.get("PORTAL_TARGET_VARS", ""))
        if not settings.DEBUG:
            call_command("collectstatic", "--noinput", verbosity=0)
        bin_dir = Path(sys.executable).parent
        settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
        commands = {
            "web": [
                str(bin_dir / "gunicorn"), "release_portal.wsgi",
                "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "8",
                "--access-logfile", "-", "--graceful-timeout", "5",
            ],
            "worker": [
                str(bin_dir / "celery"), "-A", "release_portal", "worker",
                "--queues", ",".join(settings.JOB_QUEUES), "--concurrency", str(options["workers"]),
                "--loglevel", "INFO", "--hostname", f"portal-{os.getpid()}@%h",
            ],
            # The portal's own periodic work, never behind a job (settings: the queues).
            "housekeeping": [
                str(bin_dir / "celery"), "-A", "release_portal", "worker",
                "--queues", settings.CELERY_TASK_DEFAULT_QUEUE, "--concurrency", "2",
                "--loglevel", "INFO", "--hostname", f"portal-housekeeping-{os.getpid()}@%h",
            ],
            "beat": [
                str(bin_dir / "celery"), "-A", "release_portal", "beat", "--loglevel", "INFO",
                "--schedule", str(settings.DATA_DIR / "celerybeat-schedule"),
            ],
        }  # fmt: skip
        processes: dict[str, subprocess.Popen[bytes]] = {}
        for name, argv in commands.items():
            processes[name] = subprocess.Popen(argv, env=env, start_new_session=True)
        self._banner(port)

        stopping = False

        def stop(*_: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        while not stopping:
            for name, proc in processes.items():
                if proc.poll() is not None:
                    self.stderr.write(f"{name} exited with {proc.returncode}; stopping the others.")
                    exit_code = proc.returncode or 1
                    stopping = True
            time.sleep(0.5)
        self.stdout.write("Stopping web, workers and beat...")
        for proc in processes.values():
            if proc.poll() is None:
                # The leader only: gunicorn and Celery stop their own workers gracefully.
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in processes.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        sys.exit(exit_code)

    def _banner(self, port: int) -> None:
        line = "-" * 64
        self.stdout.write(line)
        self.stdout.write(f"Release Portal is running at http://127.0.0.1:{port}/")
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for username, (role_label, _) in DEMO_USERS.items():
            self.stdout.write(f"  {username:<9} {role_label}")
        database = f"embedded PostgreSQL in {shown(settings.EMBEDDED_PGDATA)}"
        self.stdout.write(f"Database: {database if settings.EMBEDDED else 'DATABASE_URL'}")
        broker = settings.CELERY_BROKER_URL.split(":", 1)[0]
        folder = f" ({shown(settings.BROKER_DIR)})" if broker == "filesystem" else ""
        self.stdout.write(f"Broker:   {broker}{folder}")
        self.stdout.write("Press Ctrl-C to stop.")
        self.stdout.write(line)


def shown(path: Path) -> str:
    """A folder of PORTAL_DATA_DIR as the person set it: relative to the project folder
    when it is inside it (.local/pg), else in full."""
    try:
        return str(path.relative_to(settings.BASE_DIR))
    except ValueError:
        return str(path)
