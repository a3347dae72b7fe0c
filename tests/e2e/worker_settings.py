"""Settings for the real Celery worker the browser stories start.

Like the portal's, with the test database's name (pytest-django picks it at run time) and
short leases; every runner is the real one.
"""

import os

from release_portal.settings import *  # noqa: F403
from release_portal.settings import DATABASES

DATABASES["default"]["NAME"] = os.environ["JOBS_WORKER_DATABASE_NAME"]
