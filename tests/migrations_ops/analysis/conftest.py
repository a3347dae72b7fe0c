from tests.checklists.conftest import release, release_with_files, runbook  # noqa: F401
from tests.migrations_ops.conftest import make_database, server_url  # noqa: F401
