"""Settings for a Celery worker subprocess started by the fault tests.

The worker must see the rows the test committed, so it connects to the test database
(pytest-django's name for it, passed in JOBS_WORKER_DATABASE_NAME) on the same server.
Every job kind runs the sample runner; leases are short (JOB_LEASE_SECONDS from the env).
"""

import os

from release_portal.settings import *  # noqa: F403
from release_portal.settings import DATABASES

DATABASES["default"]["NAME"] = os.environ["JOBS_WORKER_DATABASE_NAME"]
JOB_RUNNER_MODULES = {
    kind: "tests.migrations_ops.jobs.sample_runner"
    for kind in ("order", "pending", "drift", "secrets", "commands", "dry_run", "rls", "fixtures")
}
