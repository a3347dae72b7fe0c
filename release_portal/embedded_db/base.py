"""The portal's PostgreSQL backend, starting the embedded server on first connection.

Settings stay free of side effects: importing them (mypy, ``manage.py check``) never
starts a server; the first real connection does, and reuses a running one.
"""

from pathlib import Path
from typing import Any

from release_portal import embedded
from release_portal.db import base

_ready: dict[str, str] = {}  # pgdata -> socket folder, once per process


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        pgdata = self.settings_dict["EMBEDDED_PGDATA"]
        if pgdata not in _ready:
            _ready[pgdata] = embedded.socket_dir(Path(pgdata))
            embedded.ensure_database(Path(pgdata))
        self.settings_dict["HOST"] = _ready[pgdata]
        return super().get_connection_params()
