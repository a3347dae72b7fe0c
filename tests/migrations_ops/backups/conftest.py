"""The SRE side against real PostgreSQL (see tests/sre_fixtures.py)."""

from tests.sre_fixtures import *  # noqa: F403
from tests.sre_fixtures import _backup_dir  # noqa: F401  (autouse)
