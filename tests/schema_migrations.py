"""Moving the test database along the migration graph, for tests of data migrations."""

from __future__ import annotations

from django.apps.registry import Apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

Node = tuple[str, str]


def migrate(targets: list[Node]) -> Apps:
    """Migrate to ``targets`` (forwards or backwards); the models as they are there."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def leaves(*apps: str) -> list[Node]:
    """The newest migration of each of ``apps``."""
    graph = MigrationExecutor(connection).loader.graph
    return [node for app in apps for node in graph.leaf_nodes(app)]
