"""The deployment fixtures: throwaway staging and production databases, approved releases."""

from tests.deploy_fixtures import *  # noqa: F403
from tests.deploy_fixtures import _media  # noqa: F401  (autouse)
